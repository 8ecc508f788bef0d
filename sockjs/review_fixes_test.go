package sockjs_test

// Regression tests for the smaller defects of issue 9, item 9.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/sockjs"
)

// The zero Message is the empty message, on framed transports and on raw
// websocket (where it used to panic the connection's writer).
func TestZeroMessageIsEmpty(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t, sockjs.Options{RawWebSocket: true}, func(ctx context.Context, s *sockjs.Session) {
		msg, err := s.Recv(ctx)
		if err != nil {
			return
		}
		_ = s.SendMessage(sockjs.Message{})
		_ = s.Send(msg)
		<-ctx.Done()
	})
	raw := dialWS(t, f.addr, "/app/websocket")
	wsSend(t, raw, "x")
	wsExpect(t, raw, "")
	wsExpect(t, raw, "x")

	base := sessionBase("/app")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	expectBody(t, f.post(t, base+"/xhr_send", `["y"]`), http.StatusNoContent, "")
	msgs, _ := pollMessages(t, f, base, 2)
	if len(msgs) != 2 || msgs[0] != "" || msgs[1] != "y" {
		t.Fatalf("messages %q; want [\"\" \"y\"]", msgs)
	}
}

// eventsource responses carry X-Content-Type-Options: nosniff, and htmlfile
// pages the origin policy's frame-ancestors, as the iframe page does.
func TestStreamingSecurityHeaders(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		opts      sockjs.Options
		ancestors string // the htmlfile page's CSP; "" means none
	}{
		{"same origin only", sockjs.Options{}, "frame-ancestors 'self'"},
		{"listed origins", sockjs.Options{AllowedOrigins: []string{"https://app.example.com"}}, "frame-ancestors 'self' https://app.example.com"},
		{"any origin", sockjs.Options{AllowAnyOrigin: true}, "frame-ancestors *"},
		{"CORS left to the application", sockjs.Options{DisableCORS: true}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := sockjs.NewHandler(tc.opts, func(ctx context.Context, _ *sockjs.Session) { <-ctx.Done() })
			srv := startServer(t, h, h)
			f := &fixture{srv: srv, addr: srv.Listener.Addr().String()}

			_, es := f.open(t, http.MethodGet, "/000/"+newSID()+"/eventsource", "")
			expectStatus(t, es, http.StatusOK)
			expectHeader(t, es, "X-Content-Type-Options", "nosniff")

			_, hs := f.open(t, http.MethodGet, "/000/"+newSID()+"/htmlfile?c=cb", "")
			expectStatus(t, hs, http.StatusOK)
			if tc.ancestors == "" {
				expectNoHeader(t, hs, "Content-Security-Policy")
			} else {
				expectHeader(t, hs, "Content-Security-Policy", tc.ancestors)
			}
			iframe := f.get(t, "/iframe.html")
			if got, want := iframe.Header.Get("Content-Security-Policy"), hs.Header.Get("Content-Security-Policy"); got != want {
				t.Fatalf("iframe page CSP %q, htmlfile %q; want the same", got, want)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer for a logger written from another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A panicking session handler is logged with its stack, which names the
// function that panicked.
func TestHandlerPanicLoggedWithStack(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	f := newAppFixture(t, sockjs.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, panickingHandler)
	base := sessionBase("/app")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	// The 1011 close comes after the log line (recover logs, then closes).
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, `c[1011,"Internal server error"]`+"\n")
	out := logs.String()
	for _, want := range []string{"session handler panicked", "boom", "stack=", "panickingHandler"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log %q lacks %q", out, want)
		}
	}
}

func panickingHandler(context.Context, *sockjs.Session) { panic("boom") }

// A websocket message past MaxMessageBytes closes the session with 1009:
// the application's Recv says so, a SockJS client gets c[1009,...] (it
// ignores WebSocket close codes), a raw websocket client a 1009 close.
func TestWebSocketMessageTooBig(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 2)
	f := newAppFixture(t, sockjs.Options{RawWebSocket: true, MaxMessageBytes: 1024}, func(ctx context.Context, s *sockjs.Session) {
		for {
			if _, err := s.Recv(ctx); err != nil {
				ended <- err
				return
			}
		}
	})
	big := strings.Repeat("x", 2000)
	checkEnded := func(what string) {
		t.Helper()
		select {
		case err := <-ended:
			var ce *sockjs.CloseError
			if !errors.As(err, &ce) || ce.Code != sockjs.CloseMessageTooBig {
				t.Fatalf("%s: the session ended with %v; want code 1009", what, err)
			}
		case <-time.After(ioTimeout):
			t.Fatalf("%s: the session did not end", what)
		}
	}

	ws := dialWS(t, f.addr, sessionBase("/app")+"/websocket")
	wsExpect(t, ws, frameOpen)
	wsSend(t, ws, `["small"]`)
	wsSend(t, ws, `["`+big+`"]`)
	wsExpect(t, ws, `c[1009,"Message too big"]`)
	wsExpectClosed(t, ws, ioTimeout)
	checkEnded("websocket")

	raw := dialWS(t, f.addr, "/app/websocket")
	wsSend(t, raw, big)
	wsExpectCloseCode(t, raw, websocket.CloseMessageTooBig, "Message too big")
	checkEnded("raw websocket")
}

// With heartbeats off, websockets are still pinged and keep a read
// deadline, so a client that stops answering (a half-open connection) is
// dropped; one that answers stays.
func TestWebSocketDeadlineWithoutHeartbeats(t *testing.T) {
	t.Parallel()
	type end struct {
		name string
		err  error
	}
	ended := make(chan end, 2)
	f := newAppFixture(t, sockjs.Options{
		RawWebSocket:          true,
		HeartbeatDelay:        -1,
		WebSocketPingInterval: 200 * time.Millisecond,
		PongTimeout:           time.Second, // a window of 1.2 s: a loaded machine stalls
	}, func(ctx context.Context, s *sockjs.Session) {
		name, err := s.Recv(ctx)
		if err == nil {
			_, err = s.Recv(ctx)
		}
		ended <- end{name, err}
	})
	// A client that reads answers pings (gorilla's default ping handler)
	// and outlives many ping intervals.
	alive := dialWS(t, f.addr, "/app/websocket")
	wsSend(t, alive, "alive")
	// A client that reads nothing answers no ping: dropped, as timed out.
	silent := dialWS(t, f.addr, "/app/websocket")
	wsSend(t, silent, "silent")
	_ = alive.SetReadDeadline(time.Now().Add(5 * time.Second)) // 4 windows
	if _, _, err := alive.ReadMessage(); !isTimeout(err) {
		t.Fatalf("the answering client's read ended with %v; want its own deadline", err)
	}
	select {
	case e := <-ended:
		if e.name != "silent" || !errors.Is(e.err, sockjs.ErrTimedOut) {
			t.Fatalf("session %q ended with %v; want only the silent one, timed out", e.name, e.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a websocket that answers no ping was kept with heartbeats off")
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
