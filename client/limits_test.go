package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/examples/testserver/services"
	"go.uber.org/goleak"
)

// TestInboxBackpressure checks that a client that does not read stops
// reading from the server at MaxInboxBytes, and that nothing is lost or
// reordered when it reads again.
func TestInboxBackpressure(t *testing.T) {
	s := startServer(t, false, services.Config{})
	for _, tr := range allTransports {
		t.Run(tr, func(t *testing.T) {
			ctx := recvCtx(t)
			c, err := client.Dial(ctx, s.URL+"/echo", &client.Options{
				Transports: []string{tr}, HTTPClient: s.Client, MaxInboxBytes: 1024,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(1000, "")
			const n = 200
			for i := range n {
				if err := c.Send(fmt.Sprintf("%03d %s", i, strings.Repeat("b", 60))); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(300 * time.Millisecond) // the inbox fills and the reader waits
			for i := range n {
				got, err := c.Recv(ctx)
				if err != nil || !strings.HasPrefix(got, fmt.Sprintf("%03d ", i)) {
					t.Fatalf("message %d: %.10q, %v", i, got, err)
				}
			}
		})
	}
}

// TestSendLimits checks ErrQueueFull while a send is stuck, and that a
// send stuck past WriteTimeout ends the session with ErrTimeout.
func TestSendLimits(t *testing.T) {
	release := make(chan struct{})
	s := startWrapped(t, services.Config{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if lastElem(r) == "xhr_send" {
				select { // a proxy that never forwards the body
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	defer close(release)
	ctx := recvCtx(t)
	c, err := client.Dial(ctx, s.URL+"/echo", &client.Options{
		Transports: []string{client.XHRPolling}, HTTPClient: s.Client,
		// the write timeout must outlast filling the queue below even on a
		// loaded machine, else Send reports the ended session instead
		MaxQueuedBytes: 1000, WriteTimeout: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(1000, "")
	c.Send("first") // taken by the sender, stuck in xhr_send
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		full = c.Send(strings.Repeat("q", 100))
	}
	if !errors.Is(full, client.ErrQueueFull) {
		t.Fatalf("Send with a stuck sender and a full queue = %v, want ErrQueueFull", full)
	}
	_, err = c.Recv(ctx)
	var ce *client.CloseError
	if !errors.As(err, &ce) || !errors.Is(err, client.ErrTimeout) || !errors.Is(err, client.ErrTransport) {
		t.Fatalf("Recv = %v, want a CloseError for the send timeout", err)
	}
	fctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := c.Flush(fctx); !errors.As(err, &ce) {
		t.Fatalf("Flush after the session ended = %v, want its CloseError", err)
	}
}

// TestServerLostSession checks that a second open frame (a server that
// restarted and forgot the session) ends the session, as sockjs-client
// does ("Server lost session").
func TestServerLostSession(t *testing.T) {
	s := startWrapped(t, services.Config{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if lastElem(r) == "xhr" {
				w.Write([]byte("o\n")) // every poll: a new session
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := dial(t, s, "/echo", client.XHRPolling)
	_, err := c.Recv(recvCtx(t))
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != 1006 || ce.Reason != "Server lost session" || !errors.Is(err, client.ErrTransport) {
		t.Fatalf("Recv = %v, want 1006 \"Server lost session\"", err)
	}
}

// TestCloseEndsGoroutines checks that Close leaves no goroutine of the
// connection behind, on every transport (the server's session goroutines
// go within its short disconnect delay).
func TestCloseEndsGoroutines(t *testing.T) {
	s := startServer(t, false, services.Config{DisconnectDelay: 100 * time.Millisecond})
	for _, tr := range allTransports {
		t.Run(tr, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			c, err := client.Dial(recvCtx(t), s.URL+"/echo", &client.Options{Transports: []string{tr}, HTTPClient: s.Client})
			if err != nil {
				t.Fatal(err)
			}
			echoAll(t, c, []string{"x"})
			if err := c.Close(1000, "bye"); err != nil {
				t.Fatal(err)
			}
			s.Client.CloseIdleConnections()
			// VerifyNone retries for under half a second, which a loaded
			// machine can spend with the ending goroutines descheduled:
			// give them up to 10 s, then check as before (a goroutine that
			// never ends still fails)
			for deadline := time.Now().Add(10 * time.Second); goleak.Find(before) != nil && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			goleak.VerifyNone(t, before)
		})
	}
}
