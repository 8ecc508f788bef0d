package stomp

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/testredis"
)

// Two nodes sharing a real Redis through the cluster's bus: topics and user
// destinations reach subscribers on the other node, in order; queues stay
// on their node.
func TestAcrossNodes(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	node := func() *Server {
		rdb, err := redis.NewClient(rs.URL())
		if err != nil {
			t.Fatal(err)
		}
		bus := redis.NewBus(rdb, redis.BusOptions{Prefix: "stomptest:"})
		srv := NewServer(Config{Bus: bus, Authenticate: LoginAuthenticator})
		t.Cleanup(func() {
			srv.Close()
			bus.Close()
			rdb.Close()
		})
		return srv
	}
	a, b := node(), node()

	sub := connect(t, a, "ann")
	sub.send("SUBSCRIBE", "", "id", "t", "destination", "/topic/x", "receipt", "1")
	sub.expect("RECEIPT")
	sub.send("SUBSCRIBE", "", "id", "u", "destination", "/user/queue/inbox", "receipt", "2")
	sub.expect("RECEIPT")
	sub.send("SUBSCRIBE", "", "id", "q", "destination", "/queue/local", "receipt", "3")
	sub.expect("RECEIPT")

	pub := connect(t, b, "bob")
	const n = 100
	for i := range n {
		pub.send("SEND", string(rune('a'+i%26)), "destination", "/topic/x", "x-seq", strconv.Itoa(i))
	}
	pub.send("SEND", "for ann", "destination", "/user/ann/queue/inbox", "x-from", "bob")
	pub.send("SEND", "stays on b", "destination", "/queue/local", "receipt", "sent")
	pub.expect("RECEIPT")
	for i := range n {
		f := sub.expect("MESSAGE")
		if f.Header.Get("x-seq") != strconv.Itoa(i) || f.Header.Get("destination") != "/topic/x" || f.Header.Get("subscription") != "t" {
			t.Fatalf("message %d: %v %q", i, f.Header, f.Body)
		}
	}
	if f := sub.expect("MESSAGE"); string(f.Body) != "for ann" || f.Header.Get("x-from") != "bob" || f.Header.Get("destination") != "/user/queue/inbox" {
		t.Fatalf("%v %q", f.Header, f.Body)
	}
	sub.quiet() // the queue message waits on node b

	// A node-local publish from the server reaches the other node too.
	if err := b.Publish(context.Background(), "/topic/x", Header{{"x-seq", "server"}}, []byte("s")); err != nil {
		t.Fatal(err)
	}
	if f := sub.expect("MESSAGE"); f.Header.Get("x-seq") != "server" {
		t.Fatal(f.Header)
	}
}

// startRedis starts a private redis-server, or skips where none is
// installed and $CI is unset (CI installs it: scripts/test-all.sh).
func startRedis(t testing.TB) *testredis.Server {
	t.Helper()
	if _, err := testredis.Find(); err != nil && os.Getenv("CI") == "" {
		t.Skipf("no redis-server (%v); this test needs one and runs in CI", err)
	}
	return testredis.Start(t)
}

// Users lists the users of every node, with their node and subscriptions,
// through the bus; a node's users go when it closes.
func TestUsersAcrossNodes(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	node := func(id string) *Server {
		rdb, err := redis.NewClient(rs.URL())
		if err != nil {
			t.Fatal(err)
		}
		bus := redis.NewBus(rdb, redis.BusOptions{Prefix: "stomptest-users:"})
		srv := NewServer(Config{Bus: bus, Authenticate: LoginAuthenticator, ClusterUsers: true, NodeID: id, UserRegistryInterval: 200 * time.Millisecond})
		t.Cleanup(func() {
			srv.Close()
			bus.Close()
			rdb.Close()
		})
		return srv
	}
	a, b := node("a"), node("b")
	ca := connect(t, a, "ann")
	ca.send("SUBSCRIBE", "", "id", "1", "destination", "/user/queue/x", "receipt", "r")
	ca.expect("RECEIPT")
	cb := connect(t, b, "ann")
	cb.send("SUBSCRIBE", "", "id", "2", "destination", "/topic/y", "receipt", "r")
	cb.expect("RECEIPT")
	connect(t, b, "bob")
	want := "ann:a/1=/user/queue/x,b/2=/topic/y;bob:b;"
	var got string
	for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = usersString(a.Users()); got == want && usersString(b.Users()) == want {
			break
		}
	}
	if got != want || usersString(b.Users()) != want {
		t.Fatalf("users on a %q, on b %q, want %q", got, usersString(b.Users()), want)
	}
	cb.send("DISCONNECT", "", "receipt", "bye")
	cb.expect("RECEIPT")
	want = "ann:a/1=/user/queue/x;bob:b;"
	for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = usersString(a.Users()); got == want {
			return
		}
	}
	t.Fatalf("after b's ann left: %q, want %q", got, want)
}

func usersString(users []UserInfo) string {
	var s string
	for _, u := range users {
		s += u.Name + ":"
		for i, si := range u.Sessions {
			if i > 0 {
				s += ","
			}
			s += si.Node
			for _, sub := range si.Subscriptions {
				s += "/" + sub.ID + "=" + sub.Destination
			}
		}
		s += ";"
	}
	return s
}
