package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/sockjs"
)

// natsChatNodes serves the chat as two cluster nodes on one NATS, as two
// processes with -nats do.
func natsChatNodes(t *testing.T) []string {
	t.Helper()
	srv := natstest.Start(t)
	var bases []string
	for _, name := range []string{"n1", "n2"} {
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		store, err := nats.NewStore(nc, nats.StoreOptions{Node: name})
		if err != nil {
			t.Fatal(err)
		}
		bus, err := nats.NewBus(nc, nats.BusOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, h := newServer(sockjs.Options{Cluster: &sockjs.Cluster{Store: store, Bus: bus, Secret: []byte("chat test secret, 32 bytes......"), Service: "chat"}})
		hs := httptest.NewServer(r)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = h.Shutdown(ctx)
			hs.Close()
			_ = bus.Close()
			nc.Close()
		})
		bases = append(bases, hs.URL)
	}
	return bases
}

// With -nats, a newcomer's welcome lists the members of every node, and a
// page that comes back on the other node gets the events it missed.
func TestChatMembersAndCatchUpAcrossNodesOnNATS(t *testing.T) {
	bases := natsChatNodes(t)
	ann := dialChat(t, bases[0], "Ann")
	next(t, ann, "welcome")
	// Her own join comes after her welcome; Bob's, from another node and
	// publisher, is ordered against it only once she has seen hers.
	if e := next(t, ann, "join"); e.User != "Ann" {
		t.Fatalf("Ann saw %+v, want her own join first", e)
	}
	bob := dialChat(t, bases[1], "Bob")
	if w := next(t, bob, "welcome"); len(w.Users) != 1 || w.Users[0].User != "Ann" {
		t.Fatalf("Bob's welcome on the other node lists %+v, want Ann", w.Users)
	}
	if e := next(t, ann, "join"); e.User != "Bob" {
		t.Fatalf("Ann saw %+v, want Bob's join from the other node", e)
	}
	_ = bob.Send("m1")
	last := next(t, ann, "message")
	if last.Text != "m1" || last.Pos == "" {
		t.Fatalf("Ann got %+v, want m1 with a position", last)
	}
	_ = ann.Close(1000, "network gone")
	for _, m := range []string{"m2", "m3"} {
		_ = bob.Send(m)
	}
	for next(t, bob, "message").Text != "m3" {
	}
	back, _ := json.Marshal(hello{Name: "Ann", Since: last.Pos})
	ann2 := dialChat(t, bases[1], string(back)) // on Bob's node now
	for _, want := range []string{"m2", "m3"} {
		if e := next(t, ann2, "message"); e.Text != want {
			t.Fatalf("back on the other node, Ann got %+v, want the missed %s", e, want)
		}
	}
	if w := next(t, ann2, "welcome"); w.Recovered == nil || !*w.Recovered {
		t.Fatalf("welcome back: %+v", w)
	}
}
