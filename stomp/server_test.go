package stomp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConnect(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{Authenticate: LoginAuthenticator, HeartbeatSend: 5 * time.Second})
	c := dial(t, srv)
	c.send("CONNECT", "", "accept-version", "1.0,1.1,1.2", "login", "alice", "heart-beat", "1000,1000")
	f := c.expect("CONNECTED")
	if f.Header.Get("version") != "1.2" || f.Header.Get("heart-beat") != "5000,0" || f.Header.Get("user-name") != "alice" || f.Header.Get("session") == "" {
		t.Fatalf("CONNECTED %v", f.Header)
	}
}

func TestConnectErrors(t *testing.T) {
	t.Parallel()
	refuse := func(ctx context.Context, r *ConnectRequest) (Principal, error) {
		switch r.Login {
		case "mallory":
			return Principal{}, fmt.Errorf("%w: mallory is banned", ErrRefused)
		case "eve":
			return Principal{}, errors.New("database password is hunter2")
		case "a/b":
			return Principal{Name: "a/b"}, nil
		}
		return Principal{Name: r.Login}, nil
	}
	tests := []struct {
		name  string
		frame string
		want  string
	}{
		{"first frame not CONNECT", "SEND\ndestination:/topic/a\n\n\x00", "first frame must be CONNECT"},
		{"no common version", "CONNECT\naccept-version:2.0\n\n\x00", "supported protocol versions"},
		{"bad heart-beat", "CONNECT\naccept-version:1.2\nheart-beat:soon\n\n\x00", "heart-beat must be"},
		{"refused with a reason", "CONNECT\naccept-version:1.2\nlogin:mallory\n\n\x00", "mallory is banned"},
		{"refused without leaking", "CONNECT\naccept-version:1.2\nlogin:eve\n\n\x00", "authentication failed"},
		{"slash in user name", "CONNECT\naccept-version:1.2\nlogin:a/b\n\n\x00", "must not contain /"},
		{"malformed", "CONNECT\naccept-version:1.2\nbroken header\n\n\x00", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, Config{Authenticate: refuse})
			c := dial(t, srv)
			c.raw(tt.frame)
			f := c.expectError(tt.want)
			if strings.Contains(f.Header.Get("message"), "hunter2") {
				t.Fatal("internal error text sent to the client")
			}
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{ConnectTimeout: 50 * time.Millisecond})
	c := dial(t, srv)
	c.expectError("no CONNECT frame")
}

// Topic messages reach every subscriber in publish order, with the
// sender's headers, content type and a body holding NUL.
func TestTopicFanOutInOrder(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	var subs []*client
	for i := range 3 {
		c := connect(t, srv, "")
		c.send("SUBSCRIBE", "", "id", fmt.Sprint("s", i), "destination", "/topic/news", "receipt", "r")
		c.expect("RECEIPT")
		subs = append(subs, c)
	}
	pub := connect(t, srv, "")
	const n = 200
	for i := range n {
		pub.send("SEND", fmt.Sprintf("m%d\x00x", i), "destination", "/topic/news", "content-type", "text/plain;charset=utf-8", "x-seq", fmt.Sprint(i), "x-colon", "a:b\nc")
	}
	for si, c := range subs {
		for i := range n {
			f := c.expect("MESSAGE")
			h := f.Header
			if string(f.Body) != fmt.Sprintf("m%d\x00x", i) || h.Get("x-seq") != fmt.Sprint(i) || h.Get("x-colon") != "a:b\nc" ||
				h.Get("content-type") != "text/plain;charset=utf-8" || h.Get("destination") != "/topic/news" ||
				h.Get("subscription") != fmt.Sprint("s", si) || h.Get("message-id") == "" || h.Get("content-length") != fmt.Sprint(len(f.Body)) {
				t.Fatalf("subscriber %d message %d: %v %q", si, i, h, f.Body)
			}
			if _, ok := h.Lookup("ack"); ok {
				t.Fatal("ack header in auto mode")
			}
		}
	}
	pub.quiet() // the publisher did not subscribe
}

func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	c := connect(t, srv, "")
	c.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/a")
	c.send("SEND", "one", "destination", "/topic/a")
	c.expect("MESSAGE")
	c.send("UNSUBSCRIBE", "", "id", "1", "receipt", "u")
	if f := c.expect("RECEIPT"); f.Header.Get("receipt-id") != "u" {
		t.Fatal(f.Header)
	}
	c.send("SEND", "two", "destination", "/topic/a", "receipt", "s")
	c.expect("RECEIPT")
	c.quiet()
	// unknown ids are ignored
	c.send("UNSUBSCRIBE", "", "id", "nope", "receipt", "x")
	c.expect("RECEIPT")
}

// Each queue message goes to exactly one consumer, round robin.
func TestQueueOnceOnly(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	var cons []*client
	for range 3 {
		c := connect(t, srv, "")
		c.send("SUBSCRIBE", "", "id", "q", "destination", "/queue/work", "receipt", "r")
		c.expect("RECEIPT")
		cons = append(cons, c)
	}
	pub := connect(t, srv, "")
	const n = 300
	for i := range n {
		pub.send("SEND", fmt.Sprint(i), "destination", "/queue/work")
	}
	pub.send("DISCONNECT", "", "receipt", "bye")
	pub.expect("RECEIPT")
	seen := map[string]int{}
	for _, c := range cons {
		for range n / 3 {
			f := c.expect("MESSAGE")
			seen[string(f.Body)]++
		}
		c.quiet()
	}
	for i := range n {
		if seen[fmt.Sprint(i)] != 1 {
			t.Fatalf("message %d delivered %d times", i, seen[fmt.Sprint(i)])
		}
	}
}

// Messages sent before any consumer wait for the first one.
func TestQueueBacklogAndLimit(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{MaxQueueBacklog: 3})
	pub := connect(t, srv, "")
	for i := range 3 {
		pub.send("SEND", fmt.Sprint(i), "destination", "/queue/later")
	}
	pub.send("SEND", "overflow", "destination", "/queue/later", "receipt", "r")
	pub.expectError("queue full")
	c := connect(t, srv, "")
	c.send("SUBSCRIBE", "", "id", "1", "destination", "/queue/later")
	for i := range 3 {
		if f := c.expect("MESSAGE"); string(f.Body) != fmt.Sprint(i) {
			t.Fatalf("got %q", f.Body)
		}
	}
}

func TestReceipts(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	c := connect(t, srv, "")
	frames := []struct{ cmd, receipt string }{
		{"SUBSCRIBE\nid:1\ndestination:/topic/r", "sub"},
		{"SEND\ndestination:/topic/other", "send"},
		{"BEGIN\ntransaction:t", "begin"},
		{"COMMIT\ntransaction:t", "commit"},
		{"ACK\nid:12345", "ack"},
		{"NACK\nid:12345", "nack"},
		{"UNSUBSCRIBE\nid:1", "unsub"},
		{"DISCONNECT", "disc"},
	}
	for _, f := range frames {
		c.raw(f.cmd + "\nreceipt:" + f.receipt + "\n\n\x00")
		if got := c.expect("RECEIPT"); got.Header.Get("receipt-id") != f.receipt {
			t.Fatalf("receipt %v for %s", got.Header, f.receipt)
		}
	}
	c.expectClosed(CloseNormal)
}

func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	deny := func(ctx context.Context, p Principal, op Op, dest string) error {
		if strings.HasPrefix(dest, "/topic/secret") {
			return errors.New("not for you")
		}
		if dest == "/queue/admin" {
			return fmt.Errorf("%w: admins only", ErrRefused)
		}
		return nil
	}
	tests := []struct {
		name, frame, want string
	}{
		{"SEND without destination", "SEND\n\nhi\x00", "without a destination"},
		{"unknown destination", "SEND\ndestination:/elsewhere\n\n\x00", "unknown destination"},
		{"refused SUBSCRIBE", "SUBSCRIBE\nid:1\ndestination:/topic/secret\n\n\x00", "SUBSCRIBE to /topic/secret refused"},
		{"refused SEND with a reason", "SEND\ndestination:/queue/admin\n\n\x00", "admins only"},
		{"SUBSCRIBE without id", "SUBSCRIBE\ndestination:/topic/a\n\n\x00", "needs id"},
		{"bad ack mode", "SUBSCRIBE\nid:1\ndestination:/topic/a\nack:sometimes\n\n\x00", "ack must be"},
		{"server frame", "MESSAGE\n\n\x00", "server frame"},
		{"second CONNECT", "CONNECT\naccept-version:1.2\n\n\x00", "already connected"},
		{"unknown transaction", "SEND\ndestination:/topic/a\ntransaction:t\n\n\x00", "no open transaction"},
		{"undefined escape", "SEND\ndestination:/topic/\\t\n\n\x00", "undefined escape"},
		{"frame too large", "SEND\ndestination:/topic/a\n\n" + strings.Repeat("x", 2000) + "\x00", "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, Config{Authorize: deny, MaxFrameBytes: 1024})
			c := connect(t, srv, "")
			c.raw(strings.Replace(tt.frame, "\n\n", "\nreceipt:77\n\n", 1))
			f := c.expectError(tt.want)
			if f.Header.Get("receipt-id") != "77" && !strings.Contains(tt.want, "too large") && !strings.Contains(tt.want, "escape") {
				t.Fatalf("ERROR without the frame's receipt-id: %v", f.Header)
			}
		})
	}
}

func TestDuplicateSubscriptionID(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	c := connect(t, srv, "")
	c.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/a")
	c.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/b")
	c.expectError("already in use")
}

// Frames may arrive several to a message, or split across messages.
func TestFramesAcrossMessages(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	c := dial(t, srv)
	c.raw("CONNECT\naccept-version:1.2\n\n\x00SUBSCRIBE\nid:1\ndestination:/topic/s\n\n\x00SEN")
	c.raw("D\ndestination:/topic/s\ncontent-length:3\n\na\x00")
	c.raw("b\x00\n\nSEND\ndestination:/topic/s\n\nlast\x00")
	c.expect("CONNECTED")
	if f := c.expect("MESSAGE"); string(f.Body) != "a\x00b" {
		t.Fatalf("%q", f.Body)
	}
	if f := c.expect("MESSAGE"); string(f.Body) != "last" {
		t.Fatalf("%q", f.Body)
	}
}

func TestTransactions(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	c := connect(t, srv, "")
	c.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/tx")
	c.send("BEGIN", "", "transaction", "a")
	c.send("SEND", "dropped", "destination", "/topic/tx", "transaction", "a")
	c.send("ABORT", "", "transaction", "a")
	c.send("BEGIN", "", "transaction", "b")
	c.send("SEND", "1", "destination", "/topic/tx", "transaction", "b")
	c.send("SEND", "2", "destination", "/topic/tx", "transaction", "b", "receipt", "held")
	c.expect("RECEIPT")
	c.quiet()
	c.send("COMMIT", "", "transaction", "b")
	for _, want := range []string{"1", "2"} {
		if f := c.expect("MESSAGE"); string(f.Body) != want {
			t.Fatalf("got %q want %q", f.Body, want)
		}
	}
	c.send("COMMIT", "", "transaction", "b")
	c.expectError("no open transaction")
}
