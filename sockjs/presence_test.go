package sockjs_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/presence"
	"github.com/sockline/sockline/sockjs"
)

// On one node: members join with their info, Members lists them, a
// session that closes leaves at once, and a watcher gets both events.
func TestPresenceOneNode(t *testing.T) {
	t.Parallel()
	var h *sockjs.Handler
	h = sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		name, err := s.Recv(ctx)
		if err != nil {
			return
		}
		if _, err := h.Join(ctx, s, "room", name); err != nil {
			_ = s.Send("error " + err.Error())
			return
		}
		_ = s.Send("joined")
		_, _ = s.Recv(ctx) // until the client goes
	})
	r := chi.NewRouter()
	r.Mount("/p", h)
	base := startServer(t, r, h).URL + "/p"
	ctx, cancel := context.WithTimeout(context.Background(), scenarioWait)
	defer cancel()
	events := make(chan presence.Event, 10)
	stop, err := h.WatchPresence(ctx, "room", func(ev presence.Event) { events <- ev })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var peers []peer
	for _, name := range []string{"ann", "bob"} {
		p, err := peerTransports[0].dial(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		peerSend(t, p, name)
		expectPeerMessages(t, p, "joined")
		if ev := <-events; !ev.Joined || ev.Member.Info != name || ev.Topic != "room" {
			t.Fatalf("event %+v, want %s joined", ev, name)
		}
		peers = append(peers, p)
	}
	members := func() string {
		ms, err := h.Members(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range ms {
			names = append(names, m.Info)
		}
		slices.Sort(names)
		return strings.Join(names, ",")
	}
	if got := members(); got != "ann,bob" {
		t.Fatalf("members = %q", got)
	}
	peers[0].Close()
	select {
	case ev := <-events:
		if ev.Joined || ev.Member.Info != "ann" {
			t.Fatalf("event %+v, want ann left", ev)
		}
	case <-time.After(scenarioWait):
		t.Fatal("ann never left")
	}
	if got := members(); got != "bob" {
		t.Fatalf("members after ann left = %q", got)
	}
}

// Join refuses a cluster without a shared presence store.
func TestPresenceOptions(t *testing.T) {
	t.Parallel()
	o := sockjs.Options{Presence: sockjs.PresenceOptions{TTL: -time.Second}}
	if err := o.Validate(); err == nil {
		t.Fatal("a negative Presence.TTL was accepted")
	}
}
