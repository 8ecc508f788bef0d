package stomp

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func bodies(fs ...*Frame) string {
	var b []string
	for _, f := range fs {
		b = append(b, string(f.Body))
	}
	return strings.Join(b, ",")
}

// Unacknowledged queue messages go to another consumer when theirs leaves;
// client mode acknowledges cumulatively, client-individual one by one, and
// NACK gives a message back.
func TestAckModesAndRedelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mode     string
		ack      func(c *client, got []*Frame) // what A does before leaving
		wantToB  string                        // what B then gets
		leaveHow string                        // "unsubscribe" or "disconnect"
	}{
		{"auto: nothing comes back", "auto", func(*client, []*Frame) {}, "", "disconnect"},
		{"client: nothing acked, all back in order", "client", func(*client, []*Frame) {}, "0,1,2,3", "disconnect"},
		{"client: cumulative ack of the third", "client", func(c *client, got []*Frame) {
			c.send("ACK", "", "id", got[2].Header.Get("ack"))
		}, "3", "unsubscribe"},
		{"client-individual: ack of the second only", "client-individual", func(c *client, got []*Frame) {
			c.send("ACK", "", "id", got[1].Header.Get("ack"))
		}, "0,2,3", "disconnect"},
		{"client-individual: 1.1 style ack by message-id", "client-individual", func(c *client, got []*Frame) {
			c.send("ACK", "", "message-id", got[0].Header.Get("message-id"), "subscription", "a")
		}, "1,2,3", "unsubscribe"},
		{"client-individual: ack in a committed transaction", "client-individual", func(c *client, got []*Frame) {
			c.send("BEGIN", "", "transaction", "t")
			c.send("ACK", "", "id", got[0].Header.Get("ack"), "transaction", "t")
			c.send("ACK", "", "id", got[3].Header.Get("ack"), "transaction", "t")
			c.send("COMMIT", "", "transaction", "t")
		}, "1,2", "disconnect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, Config{})
			a := connect(t, srv, "")
			a.send("SUBSCRIBE", "", "id", "a", "destination", "/queue/jobs", "ack", tt.mode, "receipt", "r")
			a.expect("RECEIPT")
			pub := connect(t, srv, "")
			for i := range 4 {
				pub.send("SEND", fmt.Sprint(i), "destination", "/queue/jobs")
			}
			var got []*Frame
			for range 4 {
				f := a.expect("MESSAGE")
				if tt.mode != "auto" && f.Header.Get("ack") == "" {
					t.Fatalf("no ack header in %s mode: %v", tt.mode, f.Header)
				}
				got = append(got, f)
			}
			if bodies(got...) != "0,1,2,3" {
				t.Fatalf("A got %s", bodies(got...))
			}
			tt.ack(a, got)
			a.send("SEND", "", "destination", "/topic/sync", "receipt", "acked")
			a.expect("RECEIPT")

			b := connect(t, srv, "")
			b.send("SUBSCRIBE", "", "id", "b", "destination", "/queue/jobs", "receipt", "r")
			b.expect("RECEIPT")
			b.quiet() // A still holds everything
			if tt.leaveHow == "unsubscribe" {
				a.send("UNSUBSCRIBE", "", "id", "a")
			} else {
				a.send("DISCONNECT", "")
			}
			var again []*Frame
			for range len(strings.Split(tt.wantToB, ",")) {
				if tt.wantToB == "" {
					break
				}
				again = append(again, b.expect("MESSAGE"))
			}
			b.quiet()
			if bodies(again...) != tt.wantToB {
				t.Fatalf("B got %q, want %q", bodies(again...), tt.wantToB)
			}
		})
	}
}

func TestNackRedelivers(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	a := connect(t, srv, "")
	a.send("SUBSCRIBE", "", "id", "a", "destination", "/queue/n", "ack", "client-individual", "receipt", "r")
	a.expect("RECEIPT")
	a.send("SEND", "job", "destination", "/queue/n")
	f := a.expect("MESSAGE")
	a.send("NACK", "", "id", f.Header.Get("ack"))
	// Only consumer: it gets the job again, under a new ack id.
	g := a.expect("MESSAGE")
	if string(g.Body) != "job" || g.Header.Get("ack") == f.Header.Get("ack") {
		t.Fatalf("%v %q", g.Header, g.Body)
	}
	a.send("ACK", "", "id", g.Header.Get("ack"))
	a.quiet()
}

// A queue stops handing messages to a consumer holding MaxUnacked of them.
func TestQueuePrefetchBound(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{MaxUnacked: 2})
	a := connect(t, srv, "")
	a.send("SUBSCRIBE", "", "id", "a", "destination", "/queue/p", "ack", "client-individual")
	for i := range 4 {
		a.send("SEND", fmt.Sprint(i), "destination", "/queue/p")
	}
	f0, f1 := a.expect("MESSAGE"), a.expect("MESSAGE")
	a.quiet()
	a.send("ACK", "", "id", f0.Header.Get("ack"))
	if f := a.expect("MESSAGE"); string(f.Body) != "2" {
		t.Fatalf("%q", f.Body)
	}
	a.send("ACK", "", "id", f1.Header.Get("ack"))
	if f := a.expect("MESSAGE"); string(f.Body) != "3" {
		t.Fatalf("%q", f.Body)
	}
}

// A topic subscriber in client mode that never acknowledges is a slow
// consumer; so is a client whose transport queue overflows, and its queue
// messages go to another consumer.
func TestSlowConsumers(t *testing.T) {
	t.Parallel()
	t.Run("unacked topic messages", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, Config{MaxUnacked: 5})
		c := connect(t, srv, "")
		c.send("SUBSCRIBE", "", "id", "s", "destination", "/topic/fast", "ack", "client")
		for i := range 6 {
			c.send("SEND", fmt.Sprint(i), "destination", "/topic/fast")
		}
		for range 5 {
			c.expect("MESSAGE")
		}
		c.expectError("slow consumer")
	})
	t.Run("transport queue overflow", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, Config{})
		slow := dialCap(t, srv, 3)
		slow.send("CONNECT", "", "accept-version", "1.2")
		slow.send("SUBSCRIBE", "", "id", "s", "destination", "/queue/q", "ack", "client", "receipt", "r")
		slow.expect("CONNECTED")
		slow.expect("RECEIPT") // its transport queue is empty again: room for 3
		other := connect(t, srv, "")
		other.send("SUBSCRIBE", "", "id", "o", "destination", "/queue/q", "ack", "client-individual", "receipt", "r")
		other.expect("RECEIPT")
		pub := connect(t, srv, "")
		for i := range 10 { // round robin: 5 for slow, which takes 3
			pub.send("SEND", fmt.Sprint(i), "destination", "/queue/q")
		}
		slow.expectClosed(1008)
		<-slow.done
		// every message reaches other: those it took and those slow left unacked
		seen := map[string]bool{}
		for len(seen) < 10 {
			f := other.expect("MESSAGE")
			seen[string(f.Body)] = true
			other.send("ACK", "", "id", f.Header.Get("ack"))
		}
	})
}

// SEND to /user/NAME/... reaches every session of NAME subscribed to
// /user/...; nobody else.
func TestUserDestinations(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{Authenticate: LoginAuthenticator})
	alice1, alice2, bob := connect(t, srv, "alice"), connect(t, srv, "alice"), connect(t, srv, "bob")
	anon := connect(t, srv, "")
	for _, c := range []*client{alice1, alice2, bob, anon} {
		c.send("SUBSCRIBE", "", "id", "me", "destination", "/user/queue/inbox", "receipt", "r")
		c.expect("RECEIPT")
	}
	bob.send("SEND", "hi alice", "destination", "/user/alice/queue/inbox", "x-from", "bob")
	for _, c := range []*client{alice1, alice2} {
		f := c.expect("MESSAGE")
		if string(f.Body) != "hi alice" || f.Header.Get("destination") != "/user/queue/inbox" || f.Header.Get("x-from") != "bob" {
			t.Fatalf("%v %q", f.Header, f.Body)
		}
	}
	bob.quiet()
	anon.quiet()
	if err := srv.Publish(context.Background(), "/user/bob/queue/inbox", Header{{"x-from", "server"}}, []byte("notice")); err != nil {
		t.Fatal(err)
	}
	if f := bob.expect("MESSAGE"); string(f.Body) != "notice" {
		t.Fatalf("%q", f.Body)
	}
	alice1.quiet()
}

func TestAppHandlers(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{Authenticate: LoginAuthenticator, Logger: slog.New(slog.DiscardHandler)})
	srv.Handle("/app/echo", func(ctx context.Context, m *AppMessage) error {
		return m.Reply("/user/queue/echo", Header{{"content-type", m.Header.Get("content-type")}}, m.Body)
	})
	srv.Handle("/app/rooms/{room}", func(ctx context.Context, m *AppMessage) error {
		return m.Publish(ctx, "/topic/rooms/"+m.Vars["room"], Header{{"x-user", m.Principal.Name}}, m.Body)
	})
	srv.Handle("/app/rooms/lobby", func(ctx context.Context, m *AppMessage) error {
		return m.Publish(ctx, "/topic/rooms/lobby", Header{{"x-lobby", "yes"}}, m.Body)
	})
	srv.Handle("/app/files/**", func(ctx context.Context, m *AppMessage) error {
		return m.Reply("/user/queue/files", nil, []byte(m.Destination))
	})
	srv.Handle("/app/fail", func(ctx context.Context, m *AppMessage) error {
		return fmt.Errorf("%w: not today", ErrRefused)
	})
	srv.Handle("/app/panic", func(ctx context.Context, m *AppMessage) error { panic("boom") })

	alice := connect(t, srv, "alice")
	alice2 := connect(t, srv, "alice")
	for _, c := range []*client{alice, alice2} {
		c.send("SUBSCRIBE", "", "id", "e", "destination", "/user/queue/echo")
		c.send("SUBSCRIBE", "", "id", "r", "destination", "/topic/rooms/blue")
		c.send("SUBSCRIBE", "", "id", "l", "destination", "/topic/rooms/lobby")
		c.send("SUBSCRIBE", "", "id", "f", "destination", "/user/queue/files", "receipt", "ok")
		c.expect("RECEIPT")
	}
	alice.send("SEND", "ping", "destination", "/app/echo", "content-type", "text/x-ping")
	if f := alice.expect("MESSAGE"); string(f.Body) != "ping" || f.Header.Get("destination") != "/user/queue/echo" || f.Header.Get("content-type") != "text/x-ping" {
		t.Fatalf("%v %q", f.Header, f.Body)
	}
	alice2.quiet() // a reply goes to the sender's session only

	alice.send("SEND", "hello", "destination", "/app/rooms/blue")
	for _, c := range []*client{alice, alice2} {
		if f := c.expect("MESSAGE"); f.Header.Get("destination") != "/topic/rooms/blue" || f.Header.Get("x-user") != "alice" {
			t.Fatalf("%v", f.Header)
		}
	}
	alice.send("SEND", "hi", "destination", "/app/rooms/lobby")
	if f := alice.expect("MESSAGE"); f.Header.Get("x-lobby") != "yes" {
		t.Fatalf("the literal pattern must win: %v", f.Header)
	}
	alice2.expect("MESSAGE")
	alice.send("SEND", "", "destination", "/app/files/a/b/c")
	if f := alice.expect("MESSAGE"); string(f.Body) != "/app/files/a/b/c" {
		t.Fatalf("%q", f.Body)
	}
	// Application errors keep the session: they reach the sender's
	// /user/queue/errors, the frame gets no RECEIPT.
	for _, c := range []*client{alice, alice2} {
		c.send("SUBSCRIBE", "", "id", "errs", "destination", "/user/queue/errors", "receipt", "e")
		c.expect("RECEIPT")
	}
	for _, tt := range []struct{ cmd, dest, want string }{
		{"SEND", "/app/fail", "not today"},
		{"SEND", "/app/panic", "request failed"},
		{"SEND", "/app/none", "request failed"},
		{"SUBSCRIBE", "/app/none", "request failed"},
	} {
		alice.send(tt.cmd, "", "destination", tt.dest, "id", "sub-"+tt.dest, "receipt", "withheld")
		f := alice.expect("MESSAGE")
		if f.Header.Get("destination") != "/user/queue/errors" || string(f.Body) != tt.want || f.Header.Get("message") != tt.want ||
			f.Header.Get("x-destination") != tt.dest || f.Header.Get("x-receipt") != "withheld" {
			t.Fatalf("%s %s: %v %q", tt.cmd, tt.dest, f.Header, f.Body)
		}
	}
	alice.send("SEND", "still here", "destination", "/app/echo", "receipt", "alive")
	alice.expect("MESSAGE")
	alice.expect("RECEIPT")
	alice2.quiet()
}

func TestPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, dest string
		ok            bool
		vars          string
	}{
		{"/app/echo", "/app/echo", true, ""},
		{"/app/echo", "/app/echo/x", false, ""},
		{"/app/rooms/{room}", "/app/rooms/blue", true, "room=blue"},
		{"/app/rooms/{room}", "/app/rooms/", false, ""},
		{"/app/{a}/x/{b}", "/app/1/x/2", true, "a=1,b=2"},
		{"/app/*/x", "/app/1/x", true, ""},
		{"/app/files/**", "/app/files", false, ""},
		{"/app/files/**", "/app/files/a/b", true, ""},
	}
	for _, tt := range tests {
		p, err := parsePattern(tt.pattern, []string{AppPrefix})
		if err != nil {
			t.Fatal(err)
		}
		vars, ok := p.match(tt.dest)
		var got []string
		for _, n := range p.names {
			got = append(got, n+"="+vars[n])
		}
		if ok != tt.ok || ok && strings.Join(got, ",") != tt.vars {
			t.Errorf("%s ~ %s: %v %v", tt.pattern, tt.dest, ok, got)
		}
	}
	for _, bad := range []string{"/topic/x", "/app/", "/app//x", "/app/**/x", "/app/a{b}"} {
		if _, err := parsePattern(bad, []string{AppPrefix}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

func TestHeartbeats(t *testing.T) {
	t.Parallel()
	t.Run("server sends EOLs when asked", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, Config{HeartbeatSend: 20 * time.Millisecond})
		c := dial(t, srv)
		c.send("CONNECT", "", "accept-version", "1.2", "heart-beat", "0,30")
		if f := c.expect("CONNECTED"); f.Header.Get("heart-beat") != "20,0" {
			t.Fatal(f.Header)
		}
		deadline := time.Now().Add(waitFor)
		for c.dec.Heartbeats() < 3 && time.Now().Before(deadline) {
			c.tryNext(50 * time.Millisecond)
		}
		if c.dec.Heartbeats() < 3 {
			t.Fatalf("%d heart-beats", c.dec.Heartbeats())
		}
	})
	t.Run("none unless asked", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, Config{HeartbeatSend: 10 * time.Millisecond})
		c := connect(t, srv, "")
		c.quiet()
		if c.dec.Heartbeats() != 0 {
			t.Fatal("unrequested heart-beats")
		}
	})
	t.Run("silent client is dropped", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, Config{HeartbeatSend: -1, HeartbeatReceive: 20 * time.Millisecond})
		c := dial(t, srv)
		c.send("CONNECT", "", "accept-version", "1.2", "heart-beat", "20,0")
		if f := c.expect("CONNECTED"); f.Header.Get("heart-beat") != "0,20" {
			t.Fatal(f.Header)
		}
		c.expectError("no heart-beat")
	})
	t.Run("client heart-beats keep it alive", func(t *testing.T) {
		t.Parallel()
		// The server drops a client silent for 3 × 300 ms; one beat every
		// 100 ms keeps a wide margin on a loaded machine.
		srv := newServer(t, Config{HeartbeatSend: -1, HeartbeatReceive: 300 * time.Millisecond})
		c := dial(t, srv)
		c.send("CONNECT", "", "accept-version", "1.2", "heart-beat", "300,0")
		c.expect("CONNECTED")
		for range 12 {
			c.raw("\n")
			time.Sleep(100 * time.Millisecond)
		}
		c.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/x", "receipt", "alive")
		c.expect("RECEIPT")
	})
}

// A queue consumer whose transport fails during a delivery is skipped from
// then on. Before, the queue offered the message to it again and again; when
// the sender was that consumer itself, nothing could end the loop.
func TestQueueConsumerFailsMidDelivery(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{})
	self := dialCap(t, srv, 2)
	self.send("CONNECT", "", "accept-version", "1.2")
	self.send("SUBSCRIBE", "", "id", "d", "destination", "/queue/fail", "receipt", "r")
	deadline := time.Now().Add(waitFor)
	for len(self.p.out) < 2 { // CONNECTED and RECEIPT fill its transport queue
		if time.Now().After(deadline) {
			t.Fatal("no CONNECTED and RECEIPT")
		}
		time.Sleep(time.Millisecond)
	}
	self.send("SEND", "job", "destination", "/queue/fail") // to itself: overflow
	self.expectClosed(1008)
	select {
	case <-self.done:
	case <-time.After(waitFor):
		t.Fatal("the connection's goroutine is stuck delivering to itself")
	}
	alive := connect(t, srv, "")
	alive.send("SUBSCRIBE", "", "id", "a", "destination", "/queue/fail")
	if f := alive.expect("MESSAGE"); string(f.Body) != "job" {
		t.Fatalf("%q", f.Body)
	}
}
