// Package historytest is the behaviour every history.Store must have, as
// one test suite that each implementation runs.
package historytest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sockline/sockline/history"
)

// Run runs the suite on stores made by newStore; each subtest gets its own
// topic names, so one store may serve them all.
func Run(t *testing.T, newStore func(t *testing.T) history.Store) {
	ctx := context.Background()
	pub := func(t *testing.T, s history.Store, topic string, n int, b history.Bounds) []history.Position {
		t.Helper()
		var ps []history.Position
		for i := range n {
			p, err := s.Publish(ctx, topic, []byte(fmt.Sprintf("m%d", i+1)), b)
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			ps = append(ps, p)
		}
		return ps
	}
	t.Run("offsets count from one in one epoch", func(t *testing.T) {
		s := newStore(t)
		ps := pub(t, s, "t-count", 3, history.Bounds{})
		for i, p := range ps {
			if p.Offset != uint64(i+1) || p.Epoch != ps[0].Epoch || p.Epoch == "" {
				t.Fatalf("position %d = %v, want offset %d in epoch %q", i, p, i+1, ps[0].Epoch)
			}
		}
	})
	t.Run("since replays what came after", func(t *testing.T) {
		s := newStore(t)
		ps := pub(t, s, "t-since", 5, history.Bounds{})
		from := ps[1]
		es, top, err := s.Since(ctx, "t-since", from, 100)
		if err != nil {
			t.Fatal(err)
		}
		if top != ps[4] {
			t.Fatalf("top = %v, want %v", top, ps[4])
		}
		if !history.Recoverable(from, es, top) {
			t.Fatalf("not recoverable: %v", es)
		}
		for i, e := range es {
			if want := fmt.Sprintf("m%d", i+3); string(e.Payload) != want || e.Position != ps[i+2] {
				t.Fatalf("entry %d = %v %q, want %v %q", i, e.Position, e.Payload, ps[i+2], want)
			}
		}
	})
	t.Run("a new topic has offset zero and keeps its epoch", func(t *testing.T) {
		s := newStore(t)
		_, top, err := s.Since(ctx, "t-new", history.Position{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if top.Offset != 0 || top.Epoch == "" {
			t.Fatalf("top of a new topic = %v", top)
		}
		ps := pub(t, s, "t-new", 1, history.Bounds{})
		if ps[0].Epoch != top.Epoch {
			t.Fatalf("the first publish changed the epoch: %v then %v", top, ps[0])
		}
		es, top2, _ := s.Since(ctx, "t-new", top, 10)
		if !history.Recoverable(top, es, top2) || len(es) != 1 {
			t.Fatalf("from offset 0: %v %v", es, top2)
		}
	})
	t.Run("at top is recovered with nothing", func(t *testing.T) {
		s := newStore(t)
		ps := pub(t, s, "t-top", 2, history.Bounds{})
		es, top, _ := s.Since(ctx, "t-top", ps[1], 10)
		if len(es) != 0 || !history.Recoverable(ps[1], es, top) {
			t.Fatalf("at top: %v %v", es, top)
		}
	})
	t.Run("another epoch is not recovered", func(t *testing.T) {
		s := newStore(t)
		ps := pub(t, s, "t-epoch", 3, history.Bounds{})
		from := history.Position{Offset: 1, Epoch: ps[0].Epoch + "x"}
		es, top, _ := s.Since(ctx, "t-epoch", from, 10)
		if len(es) != 0 || history.Recoverable(from, es, top) {
			t.Fatalf("another epoch: %v %v", es, top)
		}
	})
	t.Run("more than the limit is not recovered", func(t *testing.T) {
		s := newStore(t)
		ps := pub(t, s, "t-limit", 10, history.Bounds{})
		es, top, _ := s.Since(ctx, "t-limit", ps[0], 3)
		if len(es) != 0 || history.Recoverable(ps[0], es, top) {
			t.Fatalf("over the limit: %d entries", len(es))
		}
	})
	t.Run("trimmed by size is not recovered", func(t *testing.T) {
		s := newStore(t)
		b := history.Bounds{Size: 5}
		ps := pub(t, s, "t-size", 400, b) // Redis trims by whole nodes of ~100
		es, top, _ := s.Since(ctx, "t-size", ps[0], 1000)
		if history.Recoverable(ps[0], es, top) {
			t.Fatalf("recovered %d entries from a history of 5", len(es))
		}
		es, top, _ = s.Since(ctx, "t-size", ps[395], 1000)
		if !history.Recoverable(ps[395], es, top) || len(es) != 4 {
			t.Fatalf("the last 4 of a history of 5: %d entries", len(es))
		}
	})
	t.Run("trimmed by age is not recovered", func(t *testing.T) {
		s := newStore(t)
		b := history.Bounds{TTL: 50 * time.Millisecond}
		var ps []history.Position
		for range 300 { // Redis trims by whole nodes of ~100
			ps = append(ps, pub(t, s, "t-age", 1, b)...)
		}
		time.Sleep(120 * time.Millisecond)
		pub(t, s, "t-age", 1, b)
		es, top, _ := s.Since(ctx, "t-age", ps[0], 1000)
		if history.Recoverable(ps[0], es, top) {
			t.Fatalf("recovered %d entries older than their TTL", len(es))
		}
	})
}
