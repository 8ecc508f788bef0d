package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/clusterfake"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// posEvent is an event with the position the room's history gave it.
type posEvent struct {
	event
	Pos string `json:"pos"`
}

func dialChat(t *testing.T, base, first string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := client.Dial(ctx, base+"/chat", &client.Options{Transports: []string{client.XHRPolling}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(1000, "bye") })
	if err := c.Send(first); err != nil {
		t.Fatal(err)
	}
	return c
}

// next returns the next event of type typ, skipping others.
func next(t *testing.T, c *client.Conn, typ string) posEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for {
		m, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for a %s: %v", typ, err)
		}
		var e posEvent
		if err := json.Unmarshal([]byte(m), &e); err != nil {
			t.Fatal(err)
		}
		if e.Type == typ {
			return e
		}
	}
}

// A page that comes back with the position of its last event gets the
// messages it missed, then a welcome that says they are all there.
func TestChatCatchesUpAfterReconnect(t *testing.T) {
	base := startChat(t, sockjs.Options{})
	ann := dialChat(t, base, "Ann")
	next(t, ann, "welcome")
	bob := dialChat(t, base, "Bob")
	next(t, bob, "welcome")
	for _, m := range []string{"m1", "m2"} {
		_ = bob.Send(m)
	}
	var last posEvent
	for _, want := range []string{"m1", "m2"} {
		if last = next(t, ann, "message"); last.Text != want || last.Pos == "" {
			t.Fatalf("Ann got %+v, want %s with a position", last, want)
		}
	}
	_ = ann.Close(1000, "network gone")
	for _, m := range []string{"m3", "m4"} {
		_ = bob.Send(m)
	}
	// m3 and m4 are in the room's history once Bob has them back (he got
	// m1 and m2 too: read past them).
	for next(t, bob, "message").Text != "m4" {
	}
	back, _ := json.Marshal(hello{Name: "Ann", Since: last.Pos})
	ann2 := dialChat(t, base, string(back))
	for _, want := range []string{"m3", "m4"} {
		if e := next(t, ann2, "message"); e.Text != want {
			t.Fatalf("back, Ann got %+v, want the missed %s", e, want)
		}
	}
	w := next(t, ann2, "welcome")
	if w.Recovered == nil || !*w.Recovered || w.User != "Ann" {
		t.Fatalf("welcome back: %+v", w)
	}
}

// With -redis, a newcomer's welcome lists the members of every node.
func TestChatMembersAcrossNodes(t *testing.T) {
	srv := testredis.Start(t)
	var bases []string
	for _, name := range []string{"n1", "n2"} {
		rdb, err := redis.NewClient(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		store, err := redis.NewStore(rdb, redis.StoreOptions{Node: name})
		if err != nil {
			t.Fatal(err)
		}
		bus := redis.NewBus(rdb, redis.BusOptions{})
		r, h := newServer(sockjs.Options{Cluster: &sockjs.Cluster{Store: store, Bus: bus, Secret: []byte("chat test secret, 32 bytes......"), Service: "chat"}})
		hs := httptest.NewServer(r)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = h.Shutdown(ctx)
			hs.Close()
			_ = bus.Close()
			_ = rdb.Close()
		})
		bases = append(bases, hs.URL)
	}
	ann := dialChat(t, bases[0], "Ann")
	next(t, ann, "welcome")
	// Her own join comes after her welcome; Bob's, from another node and
	// publisher, is ordered against it only once she has seen hers.
	if e := next(t, ann, "join"); e.User != "Ann" {
		t.Fatalf("Ann saw %+v, want her own join first", e)
	}
	bob := dialChat(t, bases[1], "Bob")
	w := next(t, bob, "welcome")
	if len(w.Users) != 1 || w.Users[0].User != "Ann" {
		t.Fatalf("Bob's welcome on the other node lists %+v, want Ann", w.Users)
	}
	if e := next(t, ann, "join"); e.User != "Bob" {
		t.Fatalf("Ann saw %+v, want Bob's join from the other node", e)
	}
}

// A cluster on an engine with neither history nor presence (here a fake
// store and an in-memory bus) still serves the chat: the welcome lists
// this node's members.
func TestChatClusterWithoutRedis(t *testing.T) {
	bus := pubsub.NewMemory(0)
	t.Cleanup(func() { bus.Close() })
	base := startChat(t, sockjs.Options{Cluster: &sockjs.Cluster{
		Store: clusterfake.NewShared().Store("n1#1"), Bus: bus,
		Secret: []byte("chat test secret, 32 bytes......"), Service: "chat",
	}})
	ann := dialChat(t, base, "Ann")
	next(t, ann, "welcome")
	bob := dialChat(t, base, "Bob")
	if w := next(t, bob, "welcome"); len(w.Users) != 1 || w.Users[0].User != "Ann" {
		t.Fatalf("Bob's welcome lists %+v, want Ann", w.Users)
	}
}
