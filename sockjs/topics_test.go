package sockjs_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/sockjs"
)

// topicServer runs sessions that obey "sub T", "unsub T" and "quit", and
// answers "ok ..." after each.
func topicServer(t *testing.T) (*sockjs.Handler, string) {
	t.Helper()
	var h *sockjs.Handler
	h = sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		unsubs := map[string]func(){}
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				return
			}
			cmd, arg, _ := strings.Cut(msg, " ")
			switch cmd {
			case "sub":
				un, err := h.Subscribe(ctx, s, arg)
				if err != nil {
					_ = s.Send("error " + err.Error())
					continue
				}
				unsubs[arg] = un
			case "unsub":
				unsubs[arg]()
			case "quit":
				return
			}
			_ = s.Send("ok " + msg)
		}
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return h, srv.URL
}

func topicDial(t *testing.T, url, transport string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, &client.Options{Transports: []string{transport}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(1000, "") })
	return c
}

func topicRecv(t *testing.T, c *client.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// command sends cmd and waits for its acknowledgement.
func command(t *testing.T, c *client.Conn, cmd string) {
	t.Helper()
	if err := c.Send(cmd); err != nil {
		t.Fatal(err)
	}
	if got := topicRecv(t, c); got != "ok "+cmd {
		t.Fatalf("%q answered %q", cmd, got)
	}
}

func expectNothing(t *testing.T, c *client.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if m, err := c.Recv(ctx); err == nil {
		t.Fatalf("unexpected message %q", m)
	}
}

func TestPublishReachesTheTopicsSubscribersOnly(t *testing.T) {
	h, url := topicServer(t)
	a := topicDial(t, url, client.WebSocket)
	b := topicDial(t, url, client.XHRStreaming)
	c := topicDial(t, url, client.XHRPolling)
	command(t, a, "sub news")
	command(t, b, "sub news")
	command(t, b, "sub news") // twice is harmless: still one delivery
	command(t, c, "sub sport")
	ctx := context.Background()
	if err := h.Publish(ctx, "news", "extra \u2028 ☃"); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*client.Conn{a, b} {
		if got := topicRecv(t, conn); got != "extra \u2028 ☃" {
			t.Fatalf("subscriber got %q", got)
		}
	}
	expectNothing(t, c)
	expectNothing(t, b)

	command(t, a, "unsub news")
	if err := h.Publish(ctx, "news", "second"); err != nil {
		t.Fatal(err)
	}
	if got := topicRecv(t, b); got != "second" {
		t.Fatalf("remaining subscriber got %q", got)
	}
	expectNothing(t, a)

	// A session whose handler returned is off every topic.
	if err := c.Send("quit"); err != nil {
		t.Fatal(err)
	}
	ctxR, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Recv(ctxR); err == nil {
		t.Fatal("session went on after quit")
	}
	if err := h.Publish(ctx, "sport", "nobody"); err != nil {
		t.Fatal(err)
	}
}

func TestTopicsRefuseEmptyNames(t *testing.T) {
	h, _ := topicServer(t)
	if err := h.Publish(context.Background(), "", "x"); !errors.Is(err, sockjs.ErrEmptyTopic) {
		t.Fatalf("Publish to an empty topic: %v", err)
	}
	if _, err := h.Subscribe(context.Background(), nil, ""); !errors.Is(err, sockjs.ErrEmptyTopic) {
		t.Fatalf("Subscribe to an empty topic: %v", err)
	}
}
