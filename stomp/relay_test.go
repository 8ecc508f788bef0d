package stomp

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// fakeRelay records what the server gives the broker relay.
type fakeRelay struct {
	mu        sync.Mutex
	opened    []string // login:passcode
	forwarded []string // COMMAND destination-or-id
	published []string // destination body
	sessions  []*fakeRelaySession
}

type fakeRelaySession struct {
	failing bool // guarded by r.mu
	// held, when set, keeps the broker's receipts until it is closed (a
	// broker still setting a subscription up); guarded by r.mu.
	held    chan struct{}
	r       *fakeRelay
	deliver func(*Frame)
	closed  func(error)
	done    bool
}

func (r *fakeRelay) Open(ctx context.Context, login, passcode string, deliver func(*Frame), closed func(error)) (RelaySession, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if login == "down" {
		return nil, errors.New("connection refused")
	}
	r.opened = append(r.opened, login+":"+passcode)
	s := &fakeRelaySession{r: r, deliver: deliver, closed: closed}
	r.sessions = append(r.sessions, s)
	return s, nil
}

func (r *fakeRelay) Publish(ctx context.Context, destination string, header Header, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, destination+" "+string(body))
	return nil
}

func (r *fakeRelay) Close() error { return nil }

func (s *fakeRelaySession) Forward(ctx context.Context, f *Frame) error {
	what := f.Header.Get(HdrDestination)
	if what == "" {
		what = f.Header.Get(HdrID)
	}
	s.r.mu.Lock()
	if s.failing {
		s.r.mu.Unlock()
		return errors.New("broker unreachable")
	}
	s.r.forwarded = append(s.r.forwarded, f.Command+" "+what)
	held := s.held
	s.r.mu.Unlock()
	if rc := f.Header.Get(HdrReceipt); rc != "" { // the broker answers receipts
		receipt := &Frame{Command: CmdReceipt, Header: Header{{HdrReceiptID, rc}}}
		if held == nil {
			s.deliver(receipt)
		} else {
			go func() { <-held; s.deliver(receipt) }()
		}
	}
	return nil
}

func (s *fakeRelaySession) Close() error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.done = true
	return nil
}

func (r *fakeRelay) snapshot() (opened, forwarded, published []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.opened...), append([]string(nil), r.forwarded...), append([]string(nil), r.published...)
}

// With a relay, broker destinations go to the external broker (user
// destinations resolved to per-session queues as Spring does), /app stays
// local, and the server's own publishes use the relay's system connection.
func TestRelayRouting(t *testing.T) {
	t.Parallel()
	relay := &fakeRelay{}
	srv := newServer(t, Config{Authenticate: LoginAuthenticator, Relay: relay, Logger: quietLogger})
	srv.Handle("/app/echo", func(ctx context.Context, m *AppMessage) error {
		if err := m.Publish(ctx, "/topic/echoed", nil, m.Body); err != nil {
			return err
		}
		return m.Reply("/user/queue/echo", nil, m.Body)
	})
	c := dial(t, srv)
	c.send("CONNECT", "", "accept-version", "1.2", "login", "ann", "passcode", "pw")
	sid := c.expect("CONNECTED").Header.Get("session")
	c.send("SUBSCRIBE", "", "id", "t", "destination", "/topic/a", "receipt", "r1")
	if f := c.expect("RECEIPT"); f.Header.Get("receipt-id") != "r1" {
		t.Fatal(f.Header)
	}
	c.send("SUBSCRIBE", "", "id", "u", "destination", "/user/queue/echo", "receipt", "r2")
	c.expect("RECEIPT")
	c.quiet() // one RECEIPT each: the broker's, none of the server's

	relay.mu.Lock()
	rs := relay.sessions[0]
	relay.mu.Unlock()
	rs.deliver(&Frame{Command: CmdMessage, Header: Header{{HdrDestination, "/queue/echo-user" + sid}, {HdrSubscription, "u"}, {HdrMessageID, "b-1"}, {HdrAck, "T_1"}}, Body: []byte("from broker")})
	if f := c.expect("MESSAGE"); f.Header.Get("destination") != "/user/queue/echo" || string(f.Body) != "from broker" {
		t.Fatalf("%v %q", f.Header, f.Body)
	}
	c.send("ACK", "", "id", "T_1")
	c.send("SEND", "ping", "destination", "/app/echo", "receipt", "r3")
	if f := c.expect("MESSAGE"); string(f.Body) != "ping" || f.Header.Get("destination") != "/user/queue/echo" {
		t.Fatalf("%v %q", f.Header, f.Body)
	}
	c.expect("RECEIPT")
	c.send("SEND", "direct", "destination", "/queue/work")
	c.send("SEND", "to ann", "destination", "/user/ann/queue/echo", "receipt", "r4")
	c.expect("RECEIPT")
	if err := srv.Publish(context.Background(), "/topic/server", nil, []byte("s")); err != nil {
		t.Fatal(err)
	}
	c.send("UNSUBSCRIBE", "", "id", "t", "receipt", "r5")
	c.expect("RECEIPT")

	opened, forwarded, published := relay.snapshot()
	want := func(what string, got []string, w ...string) {
		t.Helper()
		if strings.Join(got, "|") != strings.Join(w, "|") {
			t.Fatalf("%s:\n%q\nwant\n%q", what, got, w)
		}
	}
	want("opened", opened, "ann:pw")
	want("forwarded", forwarded, "SUBSCRIBE /topic/a", "SUBSCRIBE /queue/echo-user"+sid, "ACK T_1", "SEND /queue/work", "UNSUBSCRIBE t")
	want("published", published, "/topic/echoed ping", "/queue/echo-user"+sid+" to ann", "/topic/server s")

	// The broker failing a frame: an application error, the session stays.
	c.send("SUBSCRIBE", "", "id", "errs", "destination", "/user/queue/errors", "receipt", "r6")
	c.expect("RECEIPT")
	relay.mu.Lock()
	rs.failing = true
	relay.mu.Unlock()
	c.send("SEND", "lost", "destination", "/topic/a", "receipt", "never")
	if f := c.expect("MESSAGE"); f.Header.Get("subscription") != "errs" || !strings.Contains(string(f.Body), "broker is not available") {
		t.Fatalf("%v %q", f.Header, f.Body)
	}
	c.quiet()

	// The broker connection lost for good: the client is told and closed.
	rs.closed(errors.New("broker gone"))
	c.expectError("message broker connection was lost")
}

// A broker that cannot be reached refuses the CONNECT with a clear ERROR.
// An UNSUBSCRIBE right after a SUBSCRIBE reaches the broker only once the
// broker has confirmed the subscription (RabbitMQ answers ERROR to one for a
// subscription it has not set up yet): the server asks a receipt of its own
// for a SUBSCRIBE that has none, and the client never sees it.
func TestRelayUnsubscribeWaitsForTheSubscription(t *testing.T) {
	t.Parallel()
	relay := &fakeRelay{}
	srv := newServer(t, Config{Relay: relay, Logger: quietLogger})
	c := dial(t, srv)
	c.send("CONNECT", "", "accept-version", "1.2")
	c.expect("CONNECTED")
	relay.mu.Lock()
	rs := relay.sessions[0]
	held := make(chan struct{})
	rs.held = held
	relay.mu.Unlock()
	c.send("SUBSCRIBE", "", "id", "s1", "destination", "/topic/a")
	c.send("UNSUBSCRIBE", "", "id", "s1", "receipt", "u1")
	c.quiet() // the UNSUBSCRIBE waits: nothing comes back
	_, forwarded, _ := relay.snapshot()
	if strings.Join(forwarded, ",") != "SUBSCRIBE /topic/a" {
		t.Fatalf("forwarded before the broker confirmed: %q, want the SUBSCRIBE only", forwarded)
	}
	close(held)
	if f := c.expect("RECEIPT"); f.Header.Get("receipt-id") != "u1" {
		t.Fatalf("receipt %v: want the client's own only", f.Header)
	}
	_, forwarded, _ = relay.snapshot()
	if strings.Join(forwarded, ",") != "SUBSCRIBE /topic/a,UNSUBSCRIBE s1" {
		t.Fatalf("forwarded: %q", forwarded)
	}
	c.quiet()
}

func TestRelayDown(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{Authenticate: LoginAuthenticator, Relay: &fakeRelay{}, Logger: quietLogger})
	c := dial(t, srv)
	c.send("CONNECT", "", "accept-version", "1.2", "login", "down")
	c.expectError("message broker is not available")
}
