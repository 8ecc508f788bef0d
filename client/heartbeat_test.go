package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/examples/testserver/services"
)

// TestHeartbeatsKeepAlive checks that a quiet session stays open as long
// as the server sends heartbeats, on every transport, although the quiet
// time (5 s) lasts two and a half HeartbeatTimeouts (2 s: wide enough that
// a loaded machine's stall between two heartbeats is not taken for a dead
// server).
func TestHeartbeatsKeepAlive(t *testing.T) {
	s := startServer(t, false, services.Config{HeartbeatDelay: 100 * time.Millisecond})
	for _, tr := range allTransports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ctx := recvCtx(t)
			c, err := client.Dial(ctx, s.URL+"/echo", &client.Options{
				Transports: []string{tr}, HTTPClient: s.Client, HeartbeatTimeout: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(1000, "")
			quiet, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, err := c.Recv(quiet); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Recv during a quiet time = %v, want the context's deadline", err)
			}
			echoAll(t, c, []string{"still here"})
		})
	}
}

// TestSilentServer checks that a server that opens the session and then
// sends nothing at all is found dead after HeartbeatTimeout.
func TestSilentServer(t *testing.T) {
	up := websocket.Upgrader{}
	var polled sync.Map
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/info"):
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"websocket":true,"cookie_needed":false,"origins":["*:*"],"entropy":1}`))
		case strings.HasSuffix(r.URL.Path, "/websocket"):
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			c.WriteMessage(websocket.TextMessage, []byte("o"))
			c.ReadMessage() // until the client gives up
		case strings.HasSuffix(r.URL.Path, "/xhr_send"):
			w.WriteHeader(http.StatusNoContent)
		default: // streams and polls: open, then silence
			switch {
			case strings.HasSuffix(r.URL.Path, "/eventsource"):
				w.Write([]byte("\r\ndata: o\r\n\r\n"))
			case strings.HasSuffix(r.URL.Path, "/xhr"):
				if _, again := polled.Load(r.URL.Path); !again {
					w.Write([]byte("o\n"))
				}
			default:
				w.Write([]byte("o\n"))
			}
			w.(http.Flusher).Flush()
			if strings.HasSuffix(r.URL.Path, "/xhr") {
				// A poll answers "o" once; later polls of the session hang.
				if _, again := polled.LoadOrStore(r.URL.Path, true); !again {
					return
				}
			}
			<-r.Context().Done()
		}
	}))
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close(); hc.CloseIdleConnections() })
	for _, tr := range allTransports {
		t.Run(tr, func(t *testing.T) {
			ctx := recvCtx(t)
			start := time.Now() // before Dial: the timeout starts when it opens
			c, err := client.Dial(ctx, ts.URL+"/dead", &client.Options{
				Transports: []string{tr}, HTTPClient: hc, HeartbeatTimeout: 300 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Recv(ctx)
			var ce *client.CloseError
			if !errors.As(err, &ce) || !errors.Is(err, client.ErrTimeout) {
				t.Fatalf("Recv = %v, want a CloseError with ErrTimeout", err)
			}
			if d := time.Since(start); d < 300*time.Millisecond {
				t.Fatalf("declared dead after %v, before HeartbeatTimeout", d)
			}
			if err := c.Close(1000, ""); !errors.Is(err, client.ErrTimeout) {
				t.Fatalf("Close after the timeout = %v, want the timeout's CloseError", err)
			}
		})
	}
}
