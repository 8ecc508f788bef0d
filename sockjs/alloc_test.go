//go:build !race

// The race detector's instrumentation allocates: these counts hold
// without it.

package sockjs_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/sockline/sockline/session"
	"github.com/sockline/sockline/sockjs"
)

// allocSessions opens n sessions on h, each with an attached receiver that
// has taken the open frame, and returns the receivers and the public
// sessions.
func allocSessions(t *testing.T, h *sockjs.Handler, started <-chan *sockjs.Session, n int) ([]*session.Receiver, []*sockjs.Session) {
	t.Helper()
	ctx := context.Background()
	rcvs := make([]*session.Receiver, n)
	pubs := make([]*sockjs.Session, n)
	for i := range rcvs {
		id := "s" + strconv.Itoa(i)
		s := h.Open(id, "xhr_streaming", httptest.NewRequest("POST", "/000/"+id+"/xhr_streaming", nil))
		r, err := s.Attach(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Detach)
		if f, err := r.Next(ctx); err != nil || f.Kind != session.KindOpen {
			t.Fatal(f.Kind, err)
		}
		rcvs[i] = r
		pubs[i] = <-started
	}
	return rcvs, pubs
}

// allocHandler is a handler whose sessions wait for their end; each
// session's public Session is sent on the returned channel.
func allocHandler(t *testing.T, n int) (*sockjs.Handler, <-chan *sockjs.Session) {
	started := make(chan *sockjs.Session, n)
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		started <- s
		<-ctx.Done()
	})
	t.Cleanup(func() { shutdown(t, h) })
	return h, started
}

// drain takes one messages frame from every receiver.
func drain(t *testing.T, rcvs []*session.Receiver) {
	for _, r := range rcvs {
		if f, err := r.Next(context.Background()); err != nil || f.Kind != session.KindMessages {
			t.Fatal(f.Kind, err)
		}
	}
}

// A broadcast allocates per broadcast (the message's encoding, the walk
// over the registry), never per session: with 200 sessions, far fewer
// than 200 allocations.
func TestAllocsBroadcastPerDelivery(t *testing.T) {
	const sessions = 200
	h, started := allocHandler(t, sessions)
	rcvs, _ := allocSessions(t, h, started, sessions)
	for range 3 { // queues and frame buffers grow once
		h.Broadcast(allocBenchMsg)
		drain(t, rcvs)
	}
	got := testing.AllocsPerRun(20, func() {
		h.Broadcast(allocBenchMsg)
		drain(t, rcvs)
	})
	if got > 16 {
		t.Errorf("Broadcast to %d sessions: %v allocations, want a few per broadcast and none per session", sessions, got)
	}
}

// The public Session's SendMessage allocates nothing on its way to the
// transport's receiver; Send only its quoting.
func TestAllocsSessionSend(t *testing.T) {
	h, started := allocHandler(t, 1)
	rcvs, pubs := allocSessions(t, h, started, 1)
	ps, m := pubs[0], sockjs.NewMessage(allocBenchMsg)
	for _, tc := range []struct {
		name string
		want float64
		send func() error
	}{
		{"SendMessage", 0, func() error { return ps.SendMessage(m) }},
		{"Send", 1, func() error { return ps.Send(allocBenchMsg) }},
	} {
		f := func() {
			if err := tc.send(); err != nil {
				t.Fatal(err)
			}
			drain(t, rcvs)
		}
		for range 3 {
			f()
		}
		if got := testing.AllocsPerRun(100, f); got != tc.want {
			t.Errorf("%s then Next: %v allocations, want %v", tc.name, got, tc.want)
		}
	}
}
