package stomp

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// A SUBSCRIBE to an /app destination runs its subscribe handler, whose
// answer reaches that subscription alone, once; nothing stays subscribed.
func TestSubscribeHandler(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{Authenticate: LoginAuthenticator})
	srv.HandleSubscribe("/app/hello", func(ctx context.Context, m *AppMessage) error {
		return m.Reply(m.Destination, Header{{"x-sub", m.Subscription}}, []byte("hello "+m.Principal.Name))
	})
	a := connect(t, srv, "ann")
	a.send("SUBSCRIBE", "", "id", "h1", "destination", "/app/hello", "receipt", "r1")
	f := a.expect("MESSAGE")
	if string(f.Body) != "hello ann" || f.Header.Get("subscription") != "h1" || f.Header.Get("destination") != "/app/hello" || f.Header.Get("x-sub") != "h1" {
		t.Fatalf("%v %q", f.Header, f.Body)
	}
	a.expect("RECEIPT")
	a.send("SUBSCRIBE", "", "id", "h2", "destination", "/app/hello", "receipt", "r2")
	if f := a.expect("MESSAGE"); f.Header.Get("subscription") != "h2" {
		t.Fatalf("the answer went to %v", f.Header)
	}
	a.expect("RECEIPT")
	// A SEND to it is not a subscribe: no SEND handler, an application error.
	a.send("SUBSCRIBE", "", "id", "errs", "destination", "/user/queue/errors")
	a.send("SEND", "", "destination", "/app/hello")
	if f := a.expect("MESSAGE"); f.Header.Get("subscription") != "errs" {
		t.Fatal(f.Header)
	}
	a.quiet()
}

// Session events come in order with the session, user and subscription.
func TestSessionEvents(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	srv := newServer(t, Config{Authenticate: LoginAuthenticator, OnEvent: func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%s %s %s %s %d", e.Type, e.Principal.Name, e.Subscription, e.Destination, e.CloseCode))
	}})
	c := connect(t, srv, "eve")
	c.send("SUBSCRIBE", "", "id", "1", "destination", "/topic/ev")
	c.send("UNSUBSCRIBE", "", "id", "1")
	c.send("DISCONNECT", "", "receipt", "bye")
	c.expect("RECEIPT")
	<-c.done
	mu.Lock()
	defer mu.Unlock()
	want := []string{"connect eve   0", "connected eve   0", "subscribe eve 1 /topic/ev 0", "unsubscribe eve 1 /topic/ev 0", "disconnect eve   1000"}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n%q\nwant\n%q", got, want)
	}
}

// Prefixes are configurable, and dot-separated patterns route /app
// destinations as Spring's dot PathMatcher does.
func TestPrefixesAndDotPatterns(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{
		Authenticate:  LoginAuthenticator,
		AppPrefixes:   []string{"/in/"},
		TopicPrefixes: []string{"/exchange/"},
		QueuePrefixes: []string{"/amq/queue/"},
		UserPrefix:    "/me/",
	})
	srv.Handle("/in/chat.{room}", func(ctx context.Context, m *AppMessage) error {
		return m.Publish(ctx, "/exchange/chat."+m.Vars["room"], nil, m.Body)
	})
	srv.Handle("/in/chat.{room}.**", func(ctx context.Context, m *AppMessage) error {
		return m.Reply("/me/queue/deep", nil, []byte(m.Destination))
	})
	c := connect(t, srv, "dot")
	c.send("SUBSCRIBE", "", "id", "1", "destination", "/exchange/chat.blue")
	c.send("SUBSCRIBE", "", "id", "2", "destination", "/me/queue/deep")
	c.send("SUBSCRIBE", "", "id", "3", "destination", "/amq/queue/jobs", "receipt", "r")
	c.expect("RECEIPT")
	c.send("SEND", "hi", "destination", "/in/chat.blue")
	if f := c.expect("MESSAGE"); f.Header.Get("destination") != "/exchange/chat.blue" {
		t.Fatal(f.Header)
	}
	c.send("SEND", "", "destination", "/in/chat.blue.x.y")
	if f := c.expect("MESSAGE"); string(f.Body) != "/in/chat.blue.x.y" {
		t.Fatalf("%q", f.Body)
	}
	c.send("SEND", "job", "destination", "/amq/queue/jobs")
	if f := c.expect("MESSAGE"); f.Header.Get("subscription") != "3" {
		t.Fatal(f.Header)
	}
	c.send("SEND", "", "destination", "/topic/old")
	c.expectError("unknown destination")

	for _, tt := range []struct {
		pattern, dest string
		ok            bool
	}{
		{"/app/chat.*", "/app/chat.x", true},
		{"/app/chat.*", "/app/chat/x", false},
		{"/app/chat.**", "/app/chat.a.b", true},
		{"/app/rooms/{r}", "/app/rooms/a.b", true}, // no dot in the pattern: "/" only
	} {
		p, err := parsePattern(tt.pattern, []string{AppPrefix})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.match(tt.dest); ok != tt.ok {
			t.Errorf("%s ~ %s: %v", tt.pattern, tt.dest, ok)
		}
	}
}

// Users lists the named users with their sessions and subscriptions.
func TestUsersOneNode(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{Authenticate: LoginAuthenticator, NodeID: "n1"})
	a := connect(t, srv, "amy")
	a.send("SUBSCRIBE", "", "id", "s", "destination", "/topic/u", "receipt", "r")
	a.expect("RECEIPT")
	connect(t, srv, "")
	u := srv.Users()
	if len(u) != 1 || u[0].Name != "amy" || len(u[0].Sessions) != 1 || u[0].Sessions[0].Node != "n1" ||
		len(u[0].Sessions[0].Subscriptions) != 1 || u[0].Sessions[0].Subscriptions[0].Destination != "/topic/u" {
		t.Fatalf("%+v", u)
	}
	a.send("DISCONNECT", "", "receipt", "bye")
	a.expect("RECEIPT")
	<-a.done
	if u := srv.Users(); len(u) != 0 {
		t.Fatalf("%+v", u)
	}
}

// Session ids are unique across Servers (nodes): a relay resolves user
// destinations to per-session broker queues named by them.
func TestSessionIDsUniqueAcrossNodes(t *testing.T) {
	t.Parallel()
	a := connect(t, newServer(t, Config{}), "").got[0].Header.Get("session")
	b := connect(t, newServer(t, Config{}), "").got[0].Header.Get("session")
	if a == "" || a == b {
		t.Fatalf("sessions %q and %q", a, b)
	}
}
