package history_test

import (
	"context"
	"fmt"

	"github.com/sockline/sockline/history"
)

// Recovery for one subscriber: buffer live messages in a Cursor, read the
// history since the subscriber's position, and let Replay join the two.
func ExampleCursor() {
	ctx := context.Background()
	store := history.NewMemory(nil)
	b := history.Bounds{Size: 100}
	var last history.Position
	for _, m := range []string{"a", "b", "c"} {
		last, _ = store.Publish(ctx, "t", []byte(m), b)
	}
	seen := history.Position{Offset: 1, Epoch: last.Epoch} // the client got "a"

	c := &history.Cursor{Deliver: func(e history.Entry) { fmt.Println(e.Offset, string(e.Payload)) }}
	// 1. the cursor gets live messages from now on (here: "d", which is
	// also in the history read below)
	d, _ := store.Publish(ctx, "t", []byte("d"), b)
	c.Live(history.Entry{Position: d, Payload: []byte("d")})
	// 2. read what came after the client's position, and join
	entries, top, _ := store.Since(ctx, "t", seen, b.Size)
	if history.Recoverable(seen, entries, top) {
		c.Replay(entries, top)
	}
	// Output:
	// 2 b
	// 3 c
	// 4 d
}
