package stomp

import (
	"context"
	"strconv"
	"testing"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/testredis"
)

// Two nodes sharing a real Redis through the cluster's bus: topics and user
// destinations reach subscribers on the other node, in order; queues stay
// on their node.
func TestAcrossNodes(t *testing.T) {
	t.Parallel()
	rs := testredis.Start(t)
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
