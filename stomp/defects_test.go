package stomp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/pubsub"
)

// quietLogger keeps expected application errors out of the test output.
var quietLogger = slog.New(slog.DiscardHandler)

// connectVersion dials and CONNECTs with one STOMP version.
func connectVersion(t *testing.T, srv *Server, version string) *client {
	t.Helper()
	c := dial(t, srv)
	c.send("CONNECT", "", "accept-version", version)
	c.expect("CONNECTED")
	c.dec.Version = version
	return c
}

// Escaping follows the negotiated version: 1.0 has none, so a 1.0 client's
// C:\temp is a value, not an undefined escape; what it receives is not
// escaped either.
func TestEscapingPerVersion(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	old := connectVersion(t, srv, "1.0")
	old.raw("SUBSCRIBE\nid:1\ndestination:/topic/esc\nreceipt:r\n\n\x00")
	old.expect("RECEIPT")
	old.raw("SEND\ndestination:/topic/esc\nx-path:C:\\temp\n\nhi\x00")
	f := old.expect("MESSAGE")
	if f.Header.Get("x-path") != `C:\temp` {
		t.Fatalf("1.0 client got %v", f.Header)
	}
	// A 1.2 client sees the same value, escaped on its wire.
	v12 := connect(t, srv, "")
	v12.send("SUBSCRIBE", "", "id", "2", "destination", "/topic/esc", "receipt", "r")
	v12.expect("RECEIPT")
	v11 := connectVersion(t, srv, "1.1")
	v11.send("SUBSCRIBE", "", "id", "3", "destination", "/topic/esc", "receipt", "r")
	v11.expect("RECEIPT")
	v12.send("SEND", "x", "destination", "/topic/esc", "x-path", `D:\x`, "x-colon", "a:b")
	for _, c := range []*client{old, v12, v11} {
		f := c.expect("MESSAGE")
		if f.Header.Get("x-path") != `D:\x` || f.Header.Get("x-colon") != "a:b" {
			t.Fatalf("version %s: %v", c.dec.Version, f.Header)
		}
	}
}

// STOMP 1.0 makes SUBSCRIBE's id optional: the destination names the
// subscription, and UNSUBSCRIBE may name it by destination.
func TestSubscribeWithoutIDVersion10(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	c := connectVersion(t, srv, "1.0")
	c.raw("SUBSCRIBE\ndestination:/topic/ten\nreceipt:r\n\n\x00")
	c.expect("RECEIPT")
	c.raw("SEND\ndestination:/topic/ten\n\none\x00")
	if f := c.expect("MESSAGE"); f.Header.Get("subscription") != "/topic/ten" {
		t.Fatal(f.Header)
	}
	c.raw("UNSUBSCRIBE\ndestination:/topic/ten\nreceipt:u\n\n\x00")
	c.expect("RECEIPT")
	c.raw("SEND\ndestination:/topic/ten\nreceipt:s\n\ntwo\x00")
	c.expect("RECEIPT")
	c.quiet()
	// 1.2 still requires it.
	c12 := connect(t, srv, "")
	c12.raw("SUBSCRIBE\ndestination:/topic/ten\n\n\x00")
	c12.expectError("needs id")
}

// An ACK id the server never gives (not a number) is a protocol error, not
// silently ignored.
func TestAckNonNumericID(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	c := connect(t, srv, "")
	c.send("ACK", "", "id", "abc", "receipt", "a")
	c.expectError(`id "abc" was never given`)
}

// A websocket whose reading ends records why: the peer's code, 1009 past
// the read limit, 1006 when the connection just went; not always 1000.
func TestWebSocketReadErrorCloseCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		act  func(ws *websocket.Conn)
		want int
	}{
		{"peer closes with 1001", func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1001, "bye"))
		}, 1001},
		{"message past the limit", func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 200)))
		}, 1009},
		{"connection dropped", func(ws *websocket.Conn) { _ = ws.NetConn().Close() }, 1006},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan *wsConn, 1)
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
				if err != nil {
					return
				}
				c := newWSConn(ws, WebSocketOptions{MaxMessageBytes: 100, MaxQueuedBytes: 1 << 20, WriteTimeout: 5 * time.Second, PingInterval: time.Minute})
				<-c.done
				_ = c.Close(CloseNormal, "")
				<-c.writerDone
				got <- c
			}))
			defer hs.Close()
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			tt.act(ws)
			select {
			case c := <-got:
				c.mu.Lock()
				code := c.closeCode
				c.mu.Unlock()
				if code != tt.want {
					t.Fatalf("recorded close code %d, want %d", code, tt.want)
				}
			case <-time.After(waitFor):
				t.Fatal("the server did not notice")
			}
		})
	}
}

// Reading frames until the RECEIPT id, skipping MESSAGEs.
func (c *client) untilReceipt(id string) {
	c.t.Helper()
	for {
		f := c.next()
		switch f.Command {
		case "MESSAGE":
		case "RECEIPT":
			if f.Header.Get("receipt-id") == id {
				return
			}
		default:
			c.t.Fatalf("got %s %v", f.Command, f.Header)
		}
	}
}

// An UNSUBSCRIBE racing deliveries leaves no ack entry behind for the
// subscription it removed.
func TestUnsubscribeRacingDelivery(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{MaxUnacked: 1 << 20})
	c := connect(t, srv, "")
	conn := srv.users.conn(c.expectSession(t, srv))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			_ = srv.Publish(ctx, "/topic/race", nil, []byte("m"))
			time.Sleep(50 * time.Microsecond)
		}
	}()
	defer wg.Wait()
	defer cancel()
	for i := range 100 {
		id := fmt.Sprint("s", i)
		c.send("SUBSCRIBE", "", "id", id, "destination", "/topic/race", "ack", "client-individual", "receipt", "r"+id)
		c.untilReceipt("r" + id)
		c.send("UNSUBSCRIBE", "", "id", id, "receipt", "u"+id)
		c.untilReceipt("u" + id)
		conn.mu.Lock()
		for mid, s := range conn.acks {
			if s.id == id {
				conn.mu.Unlock()
				t.Fatalf("ack entry %d of removed subscription %s", mid, id)
			}
		}
		conn.mu.Unlock()
	}
}

// expectSession returns the session id of a connected client (the last
// one to connect on srv, found by its CONNECTED frame).
func (c *client) expectSession(t *testing.T, srv *Server) string {
	t.Helper()
	for _, f := range c.got {
		if f.Command == "CONNECTED" {
			return f.Header.Get("session")
		}
	}
	t.Fatal("no CONNECTED")
	return ""
}

// A Reply to one's own queue subscription is not a queue message: a NACK
// does not put it in the queue for other consumers.
func TestReplyThenNackDoesNotEnqueue(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	srv.Handle("/app/me", func(ctx context.Context, m *AppMessage) error {
		return m.Reply("/queue/own", nil, []byte("just for you"))
	})
	c := connect(t, srv, "")
	c.send("SUBSCRIBE", "", "id", "q", "destination", "/queue/own", "ack", "client-individual", "receipt", "r")
	c.expect("RECEIPT")
	c.send("SEND", "", "destination", "/app/me")
	f := c.expect("MESSAGE")
	c.send("NACK", "", "id", f.Header.Get("ack"), "receipt", "n")
	c.expect("RECEIPT")
	c.send("UNSUBSCRIBE", "", "id", "q", "receipt", "u")
	c.expect("RECEIPT")
	other := connect(t, srv, "")
	other.send("SUBSCRIBE", "", "id", "q", "destination", "/queue/own", "receipt", "r")
	other.expect("RECEIPT")
	other.quiet()
}

// COMMIT is all or nothing for what can be checked: a bad SEND in a
// transaction is refused when it arrives (no RECEIPT for it), and nothing
// of the transaction is delivered.
func TestCommitAtomic(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	sub := connect(t, srv, "")
	sub.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/a", "receipt", "r")
	sub.expect("RECEIPT")
	c := connect(t, srv, "")
	c.send("BEGIN", "", "transaction", "t")
	c.send("SEND", "first", "destination", "/topic/a", "transaction", "t")
	c.send("SEND", "bad", "destination", "/nowhere", "transaction", "t", "receipt", "bad")
	f := c.expectError("unknown destination")
	if f.Header.Get("receipt-id") != "bad" {
		t.Fatal(f.Header)
	}
	for _, g := range c.got {
		if g.Command == "RECEIPT" {
			t.Fatalf("the bad SEND got a RECEIPT: %v", g.Header)
		}
	}
	sub.quiet()
}

// failingBus fails every Publish.
type failingBus struct{ pubsub.Bus }

func (failingBus) Publish(context.Context, string, []byte) error {
	return errors.New("redis: connection reset")
}

// A bus that fails a publish fails that SEND only: no RECEIPT, an error on
// /user/queue/errors, and the session goes on.
func TestBusFailureKeepsSession(t *testing.T) {
	t.Parallel()
	mem := pubsub.NewMemory(0)
	t.Cleanup(func() { mem.Close(); <-mem.Done() })
	srv := newServer(t, Config{Bus: failingBus{mem}, Logger: quietLogger})
	srv.Handle("/app/echo", func(ctx context.Context, m *AppMessage) error { return m.Reply("/user/queue/echo", nil, m.Body) })
	c := connect(t, srv, "")
	c.send("SUBSCRIBE", "", "id", "e", "destination", "/user/queue/errors")
	c.send("SUBSCRIBE", "", "id", "o", "destination", "/user/queue/echo", "receipt", "r")
	c.expect("RECEIPT")
	c.send("SEND", "lost", "destination", "/topic/x", "receipt", "never")
	if f := c.expect("MESSAGE"); f.Header.Get("subscription") != "e" || f.Header.Get("x-receipt") != "never" || !strings.Contains(string(f.Body), "try again") {
		t.Fatal(f.Header)
	}
	c.send("SEND", "still", "destination", "/app/echo", "receipt", "ok")
	if f := c.expect("MESSAGE"); string(f.Body) != "still" {
		t.Fatalf("%q", f.Body)
	}
	if f := c.expect("RECEIPT"); f.Header.Get("receipt-id") != "ok" {
		t.Fatal(f.Header)
	}
}

// blockingBus holds Subscribe until released, honouring its context.
type blockingBus struct {
	pubsub.Bus
	called  chan struct{}
	release chan struct{}
}

func (b *blockingBus) Subscribe(ctx context.Context, topic string, h pubsub.Handler) (func(), error) {
	b.called <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.Bus.Subscribe(ctx, topic, h)
}

// The first subscriber of a topic leaving while the bus subscription is
// under way does not fail the others waiting for it.
func TestSubscriberLeavingMidSubscribe(t *testing.T) {
	t.Parallel()
	mem := pubsub.NewMemory(0)
	t.Cleanup(func() { mem.Close(); <-mem.Done() })
	bus := &blockingBus{Bus: mem, called: make(chan struct{}, 4), release: make(chan struct{})}
	srv := newServer(t, Config{Bus: bus})

	first := &client{t: t, p: newPipe(100), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(first.done)
		srv.serve(ctx, first.p, &ConnectRequest{})
	}()
	first.send("CONNECT", "", "accept-version", "1.2")
	first.expect("CONNECTED")
	first.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/slow")
	<-bus.called

	second := connect(t, srv, "")
	second.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/slow", "receipt", "r")
	for waiting := 0; waiting < 2; time.Sleep(time.Millisecond) { // both wait for the same bus subscription
		srv.broker.mu.Lock()
		if f := srv.broker.fanouts["/topic/slow"]; f != nil {
			waiting = len(f.subs)
		}
		srv.broker.mu.Unlock()
	}
	cancel() // the first one leaves
	first.p.Close(1000, "")
	<-first.done
	close(bus.release)
	second.expect("RECEIPT")
	second.send("SEND", "hi", "destination", "/topic/slow")
	if f := second.expect("MESSAGE"); string(f.Body) != "hi" {
		t.Fatalf("%q", f.Body)
	}
}

// The queue bound counts what a held message really costs: an empty
// message on a queue of its own costs a few hundred bytes, not 2.
func TestQueueBoundCountsRealCost(t *testing.T) {
	srv := newServer(t, Config{MaxQueueBacklog: 1 << 20, MaxQueuedBytes: 1 << 30})
	const n = 5000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		if err := srv.Publish(context.Background(), fmt.Sprintf("/queue/q%d", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	real := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	counted := srv.broker.queued.Load()
	t.Logf("%d held messages: %d bytes on the heap, %d counted (%d and %d per message)", n, real, counted, real/n, counted/n)
	if counted < real*9/10 {
		t.Fatalf("counted %d bytes for %d on the heap", counted, real)
	}
	runtime.KeepAlive(srv)
}

// The property the UNSUBSCRIBE fix rests on: once a subscription is
// dropped (the step that removes its ack entries), no delivery reaches it,
// so none can add an entry after them.
func TestDroppedSubscriptionTakesNoDelivery(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	c := connect(t, srv, "")
	c.send("SUBSCRIBE", "", "id", "d", "destination", "/topic/drop", "ack", "client", "receipt", "r")
	c.expect("RECEIPT")
	conn := srv.users.conn(c.expectSession(t, srv))
	conn.mu.Lock()
	s := conn.subs["d"]
	conn.mu.Unlock()
	if !conn.dropSub(s) {
		t.Fatal("not dropped")
	}
	if conn.deliver(s, newMessage(nil, []byte("late")), false) {
		t.Fatal("a dropped subscription took a delivery")
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if len(conn.acks) != 0 || len(s.unacked) != 0 {
		t.Fatalf("ack entries %v, unacked %v", conn.acks, s.unacked)
	}
}
