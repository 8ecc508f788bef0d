package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/examples/testserver/services"
)

// scenario is one check run on every transport against a server whose
// services follow the conventional SockJS test services.
type scenario struct {
	name string
	run  func(t *testing.T, c *client.Conn)
	path string
}

// echoAll sends msgs and checks they come back in order.
func echoAll(t *testing.T, c *client.Conn, msgs []string) {
	t.Helper()
	ctx := recvCtx(t)
	for _, m := range msgs {
		if err := c.Send(m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	for i, want := range msgs {
		got, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv %d of %d: %v", i, len(msgs), err)
		}
		if got != want {
			t.Fatalf("message %d: got %d bytes %.40q, want %d bytes %.40q", i, len(got), got, len(want), want)
		}
	}
}

var scenarios = []scenario{
	{name: "echo", path: "/echo", run: func(t *testing.T, c *client.Conn) {
		echoAll(t, c, []string{"hello", "", " ", "a\"b\\c", "line\nbreak", "%41 %zz", "<script>"})
	}},
	{name: "unicode", path: "/echo", run: func(t *testing.T, c *client.Conn) {
		echoAll(t, c, unicodeMessages())
	}},
	{name: "64KiB", path: "/echo", run: func(t *testing.T, c *client.Conn) {
		big := strings.Repeat("x", 64<<10)
		echoAll(t, c, []string{big, big + "y", "small", big})
	}},
	{name: "burst", path: "/echo", run: func(t *testing.T, c *client.Conn) {
		msgs := make([]string, 1000)
		for i := range msgs {
			msgs[i] = fmt.Sprintf("message %d", i)
		}
		echoAll(t, c, msgs)
	}},
	{name: "close", path: "/close", run: func(t *testing.T, c *client.Conn) {
		_, err := c.Recv(recvCtx(t))
		var ce *client.CloseError
		if !errors.As(err, &ce) || ce.Code != 3000 || ce.Reason != "Go away!" || !errors.Is(err, client.ErrServerClosed) {
			t.Fatalf("Recv = %v, want a CloseError 3000 \"Go away!\" from the server", err)
		}
		if err := c.Send("late"); !errors.As(err, &ce) {
			t.Fatalf("Send after the close = %v, want the CloseError", err)
		}
	}},
	{name: "amplify", path: "/amplify", run: func(t *testing.T, c *client.Conn) {
		// Answers of 2^n bytes, up to 512 KiB: streams pass the server's
		// response limit many times over.
		ctx := recvCtx(t)
		for n := 1; n <= 19; n++ {
			if err := c.Send(fmt.Sprint(n)); err != nil {
				t.Fatal(err)
			}
			got, err := c.Recv(ctx)
			if err != nil || got != strings.Repeat("x", 1<<n) {
				t.Fatalf("amplify %d: %d bytes, %v", n, len(got), err)
			}
		}
	}},
}

// TestScenarios runs every scenario on every transport, over plain HTTP
// and over TLS with HTTP/2.
func TestScenarios(t *testing.T) {
	for _, tls := range []bool{false, true} {
		s := startServer(t, tls, services.Config{})
		for _, tr := range allTransports {
			for _, sc := range scenarios {
				t.Run(fmt.Sprintf("tls=%v/%s/%s", tls, tr, sc.name), func(t *testing.T) {
					c := dial(t, s, sc.path, tr)
					sc.run(t, c)
				})
			}
		}
	}
}

// TestRollover checks that a streaming transport reopens its stream at
// the server's response limit (4096 bytes on /echo) without losing or
// repeating a message.
func TestRollover(t *testing.T) {
	for _, tr := range []string{client.XHRStreaming, client.EventSource} {
		t.Run(tr, func(t *testing.T) {
			s := startServer(t, false, services.Config{})
			c := dial(t, s, "/echo", tr)
			// One at a time, so that each answer is a frame of its own:
			// 300 frames of ~110 bytes through a 4096-byte limit.
			for i := range 300 {
				echoAll(t, c, []string{fmt.Sprintf("%04d %s", i, strings.Repeat("r", 100))})
			}
			path := map[string]string{client.XHRStreaming: "xhr_streaming", client.EventSource: "eventsource"}[tr]
			if n := s.count.get(path); n < 8 {
				t.Fatalf("%d %s requests, want at least 8 (one per response limit)", n, path)
			}
		})
	}
}

// TestBatching checks that sends are batched with at most one xhr_send in
// flight, as sockjs-client does.
func TestBatching(t *testing.T) {
	for _, tr := range []string{client.XHRStreaming, client.EventSource, client.XHRPolling} {
		t.Run(tr, func(t *testing.T) {
			s := startServer(t, false, services.Config{})
			c := dial(t, s, "/echo", tr)
			msgs := make([]string, 1000)
			for i := range msgs {
				msgs[i] = fmt.Sprint(i)
			}
			echoAll(t, c, msgs)
			if n := s.count.get("xhr_send"); n >= 1000 || n < 1 {
				t.Fatalf("%d xhr_send requests for 1000 messages, want them batched", n)
			}
			if m := s.count.maxSend.Load(); m != 1 {
				t.Fatalf("%d xhr_send requests in flight at once, want 1", m)
			}
		})
	}
}

// TestFlushThenClose checks that Flush waits for the server to take the
// queue, and that Close ends Recv with ErrClosed and the given code.
func TestFlushThenClose(t *testing.T) {
	s := startServer(t, false, services.Config{})
	for _, tr := range allTransports {
		t.Run(tr, func(t *testing.T) {
			c := dial(t, s, "/echo", tr)
			for i := range 100 {
				if err := c.Send(fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Flush(recvCtx(t)); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if err := c.Close(3001, "done"); err != nil {
				t.Fatalf("Close: %v", err)
			}
			var ce *client.CloseError
			// Messages that arrived before the close are still readable;
			// then the close.
			for {
				_, err := c.Recv(recvCtx(t))
				if err == nil {
					continue
				}
				if !errors.As(err, &ce) || ce.Code != 3001 || !errors.Is(err, client.ErrClosed) {
					t.Fatalf("Recv after Close = %v, want CloseError 3001 ErrClosed", err)
				}
				break
			}
			if err := c.Send("x"); !errors.Is(err, client.ErrClosed) {
				t.Fatalf("Send after Close = %v, want ErrClosed", err)
			}
			if err := c.Close(1000, ""); !errors.Is(err, client.ErrClosed) {
				t.Fatalf("second Close = %v, want the first close's error", err)
			}
			if err := c.Close(1001, ""); err == nil {
				t.Fatal("Close(1001) accepted; sockjs-client allows 1000 and 3000-4999 only")
			}
		})
	}
}

// TestRecvContext checks that Recv gives up when its context ends.
func TestRecvContext(t *testing.T) {
	s := startServer(t, false, services.Config{})
	c := dial(t, s, "/echo", client.XHRPolling)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv = %v, want DeadlineExceeded", err)
	}
}
