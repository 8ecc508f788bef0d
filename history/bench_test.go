package history_test

import (
	"context"
	"testing"

	"github.com/sockline/sockline/history"
)

var benchPayload = []byte(`{"type":"message","user":"ann","transport":"websocket","text":"hello world, how are you today?"}`)

// Appending one message to an in-memory history of 1000.
func BenchmarkMemoryPublish(b *testing.B) {
	m := history.NewMemory(nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Publish(ctx, "news", benchPayload, history.Bounds{Size: 1000}); err != nil {
			b.Fatal(err)
		}
	}
}

// Recovering 1000 messages from memory: Since and a Cursor's Replay.
func BenchmarkMemoryRecover1000(b *testing.B) {
	m := history.NewMemory(nil)
	ctx := context.Background()
	var from history.Position
	for i := range 2000 {
		p, _ := m.Publish(ctx, "news", benchPayload, history.Bounds{Size: 2000})
		if i == 999 {
			from = p
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		c := &history.Cursor{Deliver: func(history.Entry) { n++ }}
		es, top, _ := m.Since(ctx, "news", from, 1000)
		c.Replay(es, top)
		if n != 1000 {
			b.Fatalf("replayed %d", n)
		}
	}
}
