package session

import (
	"fmt"
	"testing"

	"github.com/sockline/sockline/internal/frame"
)

func nextMessages(t *testing.T, r *Receiver) Frame {
	t.Helper()
	f, err := r.NextMessages(ctxT(t))
	if err != nil {
		t.Fatalf("NextMessages: %v", err)
	}
	return f
}

func quotedStrings(t *testing.T, qs [][]byte) []string {
	t.Helper()
	out := make([]string, len(qs))
	for i, q := range qs {
		msgs, err := frame.DecodeMessages(q)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("message %d = %q is not one JSON string (%v)", i, q, err)
		}
		out[i] = msgs[0]
	}
	return out
}

func TestNextMessagesGivesTheBatchUnframed(t *testing.T) {
	s := newTestSession(t, Config{})
	r, err := s.Attach(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if f := nextMessages(t, r); f.Kind != KindOpen || string(f.Data) != "o" || f.Messages != nil {
		t.Fatalf("first frame %+v", f)
	}
	s.Send("a")
	s.Send(`"quoted" </script>`)
	s.Send("\u2028😀")
	f := nextMessages(t, r)
	if f.Kind != KindMessages || f.Data != nil {
		t.Fatalf("batch %+v", f)
	}
	got := fmt.Sprintf("%q", quotedStrings(t, f.Messages))
	if want := fmt.Sprintf("%q", []string{"a", `"quoted" </script>`, "\u2028😀"}); got != want {
		t.Fatalf("messages %s, want %s", got, want)
	}
	s.Close(3001, "bye")
	if f := nextMessages(t, r); f.Kind != KindClose || string(f.Data) != `c[3001,"bye"]` || f.Messages != nil {
		t.Fatalf("close frame %+v", f)
	}
}

// The batches handed out and the queue trade backing arrays; a batch must
// stay intact while later messages are queued, until the next call.
func TestNextMessagesBatchSurvivesLaterSends(t *testing.T) {
	s := newTestSession(t, Config{})
	r, _ := s.Attach(ctxT(t))
	nextMessages(t, r)
	var want []string
	for round := range 5 {
		for i := range round + 1 {
			s.Send(fmt.Sprintf("%d.%d", round, i))
		}
		f := nextMessages(t, r)
		for i := range 10 {
			s.Send(fmt.Sprintf("later %d.%d", round, i)) // queued while f is held
		}
		got := quotedStrings(t, f.Messages)
		if len(got) != round+1 {
			t.Fatalf("round %d: %d messages %q", round, len(got), got)
		}
		for i, m := range got {
			if w := fmt.Sprintf("%d.%d", round, i); m != w {
				t.Fatalf("round %d: message %d = %q, want %q", round, i, m, w)
			}
		}
		f = nextMessages(t, r)
		if len(f.Messages) != 10 || string(f.Messages[9]) != fmt.Sprintf(`"later %d.9"`, round) {
			t.Fatalf("round %d: later batch %q", round, f.Messages)
		}
		want = append(want, got...)
	}
	if len(want) != 15 {
		t.Fatalf("got %d messages", len(want))
	}
}

// Next and NextMessages may be mixed on one receiver; each batch is taken
// once, whichever form it comes in.
func TestNextAndNextMessagesShareTheQueue(t *testing.T) {
	s := newTestSession(t, Config{})
	r, _ := s.Attach(ctxT(t))
	next(t, r)
	s.Send("x")
	if f := nextMessages(t, r); len(f.Messages) != 1 {
		t.Fatalf("got %+v", f)
	}
	s.Send("y")
	if f := next(t, r); string(f.Data) != `a["y"]` || f.Messages != nil {
		t.Fatalf("got %+v", f)
	}
}
