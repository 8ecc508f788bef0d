//go:build !race

// The race detector's instrumentation allocates: these counts hold
// without it.

package session

import (
	"context"
	"testing"
	"time"

	"github.com/sockline/sockline/internal/frame"
)

// allocsPerRun runs f a few times first, so that every buffer a steady
// state reuses has grown (the raw path trades two arrays: each needs a
// round), then returns testing.AllocsPerRun's average.
func allocsPerRun(f func()) float64 {
	for range 3 {
		f()
	}
	return testing.AllocsPerRun(100, f)
}

// checkAllocs fails t if f allocates more than max times per run.
func checkAllocs(t *testing.T, name string, max float64, f func()) {
	t.Helper()
	if got := allocsPerRun(f); got > max {
		t.Errorf("%s: %v allocations per run, want at most %v", name, got, max)
	}
}

// The send path allocates nothing in steady state once the message is
// quoted: SendQuoted (how Broadcast and SendMessage send) then Next or
// NextMessages reuse the queue and the frame buffer.
func TestAllocsSendPath(t *testing.T) {
	q := frame.Quote(allocMsg)
	ctx := context.Background()
	for _, n := range []int{1, 16} {
		s, r := allocSession(t, Config{})
		checkAllocs(t, "SendQuoted+Next", 0, func() {
			for range n {
				_ = s.SendQuoted(q)
			}
			if f, err := r.Next(ctx); err != nil || f.Kind != KindMessages {
				t.Fatal(f.Kind, err)
			}
		})
		s, r = allocSession(t, Config{})
		checkAllocs(t, "SendQuoted+NextMessages", 0, func() {
			for range n {
				_ = s.SendQuoted(q)
			}
			if f, err := r.NextMessages(ctx); err != nil || len(f.Messages) != n {
				t.Fatal(f.Kind, err)
			}
		})
	}
	// Send quotes: that, and only that, allocates.
	s, r := allocSession(t, Config{})
	checkAllocs(t, "Send+Next", 1, func() {
		_ = s.Send(allocMsg)
		if f, err := r.Next(ctx); err != nil || f.Kind != KindMessages {
			t.Fatal(f.Kind, err)
		}
	})
}

// Heartbeats and pings allocate nothing: idle sessions are the many.
func TestAllocsHeartbeat(t *testing.T) {
	ctx := context.Background()
	s, r := allocSession(t, Config{HeartbeatDelay: time.Nanosecond})
	checkAllocs(t, "heartbeat", 0, func() {
		s.onTimer()
		if f, err := r.Next(ctx); err != nil || f.Kind != KindHeartbeat {
			t.Fatal(f.Kind, err)
		}
	})
	s, r = allocSession(t, Config{PingInterval: time.Nanosecond})
	r.EnablePings()
	checkAllocs(t, "ping", 0, func() {
		s.onTimer()
		if f, err := r.Next(ctx); err != nil || f.Kind != KindPing {
			t.Fatal(f.Kind, err)
		}
	})
}

// The receive path allocates at most the inbox's slice: Recv drops it
// when the inbox empties, so the next Deliver allocates it again (see
// benchmarks/ALLOCS.md; 0 once the inbox keeps its array). These bounds
// are today's: they catch any further allocation.
func TestAllocsReceivePath(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		n   int
		max float64
	}{{1, 1}, {16, 5}} {
		s, _ := allocSession(t, Config{MaxInboxBytes: 1 << 20})
		msgs := make([]string, tc.n)
		for i := range msgs {
			msgs[i] = allocMsg
		}
		checkAllocs(t, "Deliver+Recv", tc.max, func() {
			if err := s.Deliver(ctx, msgs); err != nil {
				t.Fatal(err)
			}
			for range tc.n {
				if _, err := s.Recv(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// A poll costs its Receiver (with two channels) and its frame buffer:
// no more.
func TestAllocsPoll(t *testing.T) {
	s, r := allocSession(t, Config{})
	r.Detach()
	q := frame.Quote(allocMsg)
	ctx := context.Background()
	checkAllocs(t, "poll", 4, func() {
		_ = s.SendQuoted(q)
		r, err := s.Attach(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f, err := r.NextAndDetach(ctx); err != nil || f.Kind != KindMessages {
			t.Fatal(f.Kind, err)
		}
		r.Detach()
	})
}
