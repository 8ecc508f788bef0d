package redisqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/stomp"
	"github.com/sockline/sockline/stomp/queuetest"
	"github.com/sockline/sockline/stomp/redisqueue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startRedis starts a private redis-server, or skips where none is
// installed and $CI is unset.
func startRedis(t *testing.T) *testredis.Server {
	t.Helper()
	if _, err := testredis.Find(); err != nil && os.Getenv("CI") == "" {
		t.Skipf("no redis-server (%v); these tests need one and run in CI", err)
	}
	return testredis.Start(t)
}

// node is one stomp.Server with its own Redis client and store, served
// over a plain websocket.
type node struct {
	rdb *goredis.Client
	srv *stomp.Server
	url string
}

func newNode(t *testing.T, rs *testredis.Server, claimAfter time.Duration) *node {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: strings.TrimPrefix(rs.URL(), "redis://")})
	store := redisqueue.New(rdb, redisqueue.Options{ClaimAfter: claimAfter, Block: 100 * time.Millisecond})
	srv := stomp.NewServer(stomp.Config{QueueStore: store, Logger: slog.New(slog.DiscardHandler)})
	h, err := srv.WebSocketHandler(stomp.WebSocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		rdb.Close()
	})
	return &node{rdb: rdb, srv: srv, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
}

// wsClient reads frames on a goroutine of its own (a websocket read that
// timed out cannot be retried).
type wsClient struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan *stomp.Frame
}

func (n *node) connect(t *testing.T) *wsClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(n.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &wsClient{t: t, ws: ws, frames: make(chan *stomp.Frame, 1000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.frames)
		var dec stomp.Decoder
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			dec.Feed(b)
			for {
				f, err := dec.Next()
				if err != nil || f == nil {
					break
				}
				c.frames <- f
			}
		}
	}()
	t.Cleanup(func() { ws.Close(); <-done })
	c.send("CONNECT\naccept-version:1.2\n\n\x00")
	c.expect("CONNECTED")
	return c
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next frame, or nil after d without one.
func (c *wsClient) next(d time.Duration) *stomp.Frame {
	select {
	case f := <-c.frames:
		return f
	case <-time.After(d):
		return nil
	}
}

func (c *wsClient) expect(cmd string) *stomp.Frame {
	c.t.Helper()
	f := c.next(10 * time.Second)
	if f == nil || f.Command != cmd {
		c.t.Fatalf("got %v, want %s", f, cmd)
	}
	return f
}

// Messages sent on either node reach consumers on both, each exactly once.
func TestQueueSharedByNodes(t *testing.T) {
	rs := startRedis(t)
	a, b := newNode(t, rs, 30*time.Second), newNode(t, rs, 30*time.Second)
	ca, cb := a.connect(t), b.connect(t)
	for _, c := range []*wsClient{ca, cb} {
		c.send("SUBSCRIBE\nid:q\ndestination:/queue/jobs\nreceipt:r\n\n\x00")
		c.expect("RECEIPT")
	}
	pa, pb := a.connect(t), b.connect(t)
	const n = 100
	for i := range n {
		p := pa
		if i%2 == 1 {
			p = pb
		}
		p.send(fmt.Sprintf("SEND\ndestination:/queue/jobs\n\n%d\x00", i))
	}
	seen := map[string]int{}
	perNode := [2]int{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < n && time.Now().Before(deadline) {
		for i, c := range []*wsClient{ca, cb} {
			if f := c.next(20 * time.Millisecond); f != nil {
				seen[string(f.Body)]++
				perNode[i]++
			}
		}
	}
	for i := range n {
		if seen[fmt.Sprint(i)] != 1 {
			t.Fatalf("message %d delivered %d times (%d distinct of %d)", i, seen[fmt.Sprint(i)], len(seen), n)
		}
	}
	if perNode[0] == 0 || perNode[1] == 0 {
		t.Fatalf("one node's consumer got nothing: %v", perNode)
	}
	for _, c := range []*wsClient{ca, cb} {
		if f := c.next(200 * time.Millisecond); f != nil {
			t.Fatalf("extra %v %q", f.Header, f.Body)
		}
	}
}

// A NACK, or a consumer leaving without acknowledging, gives the message
// to another consumer (on another node) at once; an ACK removes it.
func TestQueueNackAndLeave(t *testing.T) {
	rs := startRedis(t)
	a, b := newNode(t, rs, 30*time.Second), newNode(t, rs, 30*time.Second)
	ca := a.connect(t)
	ca.send("SUBSCRIBE\nid:q\ndestination:/queue/n\nack:client-individual\nreceipt:r\n\n\x00")
	ca.expect("RECEIPT")
	b.connect(t).send("SEND\ndestination:/queue/n\n\nonce\x00")
	f := ca.expect("MESSAGE")
	ca.send("NACK\nid:" + f.Header.Get("ack") + "\n\n\x00")
	f = ca.expect("MESSAGE") // the only consumer gets it back
	if string(f.Body) != "once" {
		t.Fatalf("%q", f.Body)
	}
	cb := b.connect(t)
	cb.send("SUBSCRIBE\nid:q\ndestination:/queue/n\nack:client\nreceipt:r\n\n\x00")
	cb.expect("RECEIPT")
	ca.send("DISCONNECT\nreceipt:bye\n\n\x00")
	ca.expect("RECEIPT")
	f = cb.expect("MESSAGE")
	if string(f.Body) != "once" {
		t.Fatalf("%q", f.Body)
	}
	cb.send("ACK\nid:" + f.Header.Get("ack") + "\nreceipt:a\n\n\x00")
	cb.expect("RECEIPT")
	cb.send("UNSUBSCRIBE\nid:q\nreceipt:u\n\n\x00")
	cb.expect("RECEIPT")
	cb.send("SUBSCRIBE\nid:q2\ndestination:/queue/n\nreceipt:r2\n\n\x00")
	cb.expect("RECEIPT")
	if f := cb.next(300 * time.Millisecond); f != nil {
		t.Fatalf("acknowledged message came back: %v %q", f.Header, f.Body)
	}
}

// A node that dies holding an unacknowledged message (its Redis
// connection gone, so it can neither release nor keep it) loses it to
// another node after ClaimAfter.
func TestQueueRedeliveredWhenNodeDies(t *testing.T) {
	rs := startRedis(t)
	const claimAfter = 1500 * time.Millisecond
	a, b := newNode(t, rs, claimAfter), newNode(t, rs, claimAfter)
	ca := a.connect(t)
	ca.send("SUBSCRIBE\nid:q\ndestination:/queue/d\nack:client\nreceipt:r\n\n\x00")
	ca.expect("RECEIPT")
	b.connect(t).send("SEND\ndestination:/queue/d\n\nsurvives\x00")
	ca.expect("MESSAGE")
	cb := b.connect(t)
	cb.send("SUBSCRIBE\nid:q\ndestination:/queue/d\nreceipt:r\n\n\x00")
	cb.expect("RECEIPT")
	if f := cb.next(3 * claimAfter); f != nil { // a is alive: it keeps the message
		t.Fatalf("claimed from a live node: %q", f.Body)
	}
	a.rdb.Close() // node a is cut off from Redis
	f := cb.next(5 * claimAfter)
	if f == nil || string(f.Body) != "survives" {
		t.Fatalf("not redelivered: %v", f)
	}
}

// The QueueStore conformance suite.
func TestConformance(t *testing.T) {
	rs := startRedis(t)
	queuetest.Run(t, func(t *testing.T) stomp.QueueStore {
		rdb := goredis.NewClient(&goredis.Options{Addr: strings.TrimPrefix(rs.URL(), "redis://")})
		t.Cleanup(func() { rdb.Close() })
		return redisqueue.New(rdb, redisqueue.Options{Block: 50 * time.Millisecond})
	})
}

// A queue holds at most MaxBacklog messages, and all queues together at
// most MaxBytes: a Put past either fails with stomp.ErrQueueFull and
// stores nothing; acknowledged messages make room again.
func TestQueueBounds(t *testing.T) {
	rs := startRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: strings.TrimPrefix(rs.URL(), "redis://")})
	defer rdb.Close()
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		o        redisqueue.Options
		fits     int // messages of 100 bytes that go in
		queues   int // spread over this many queues
		wantFull bool
	}{
		{"backlog", redisqueue.Options{Prefix: "b:", MaxBacklog: 5, MaxBytes: -1}, 5, 1, true},
		{"bytes over queues", redisqueue.Options{Prefix: "m:", MaxBacklog: -1, MaxBytes: 10 * (100 + 64)}, 10, 7, true},
		{"no bounds", redisqueue.Options{Prefix: "n:", MaxBacklog: -1, MaxBytes: -1}, 50, 3, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.Block = 50 * time.Millisecond
			store := redisqueue.New(rdb, o)
			payload := []byte(strings.Repeat("x", 100))
			for i := range tt.fits {
				if err := store.Put(ctx, fmt.Sprint("q", i%tt.queues), payload); err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
			}
			err := store.Put(ctx, "q0", payload)
			if !tt.wantFull {
				if err != nil {
					t.Fatalf("put past %d: %v", tt.fits, err)
				}
				return
			}
			if !errors.Is(err, stomp.ErrQueueFull) {
				t.Fatalf("put past the bound: %v, want ErrQueueFull", err)
			}
			if n := rdb.XLen(ctx, o.Prefix+"{q0}").Val(); n != int64((tt.fits+tt.queues-1)/tt.queues) {
				t.Fatalf("q0 holds %d entries after the refused put", n)
			}
			// Take one message of q0 and acknowledge it: there is room again.
			got := make(chan stomp.QueuedMessage, 1)
			cons, err := store.Consume("q0", func(m stomp.QueuedMessage) bool {
				select {
				case got <- m:
					return true
				default:
					return false
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			var m stomp.QueuedMessage
			select {
			case m = <-got:
			case <-time.After(5 * time.Second):
				t.Fatal("no message delivered")
			}
			if err := cons.Ack(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
			if err := store.Put(ctx, "q0", payload); err != nil {
				t.Fatalf("put after an acknowledgement made room: %v", err)
			}
		})
	}
}
