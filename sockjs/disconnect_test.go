package sockjs_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/sockjs"
)

// appServer serves app at /x, until the test ends.
func appServer(t *testing.T, o sockjs.Options, app sockjs.HandlerFunc) *httptest.Server {
	t.Helper()
	h := sockjs.NewHandler(o, app)
	srv := httptest.NewServer(http.StripPrefix("/x", h))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return srv
}

// endServer serves /x and reports, for every session, the error its Recv
// ended with.
func endServer(t *testing.T, o sockjs.Options) (*httptest.Server, <-chan error) {
	t.Helper()
	ended := make(chan error, 16)
	srv := appServer(t, o, func(ctx context.Context, s *sockjs.Session) {
		for {
			if _, err := s.Recv(ctx); err != nil {
				ended <- err
				return
			}
		}
	})
	return srv, ended
}

func waitEnd(t *testing.T, ended <-chan error, want error) {
	t.Helper()
	select {
	case err := <-ended:
		if !errors.Is(err, want) || !errors.Is(err, sockjs.ErrClosed) {
			t.Fatalf("session ended with %v, want %v", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("session did not end (want %v)", want)
	}
}

// rawRequest sends one HTTP/1.1 request on conn and reads until the
// response contains want.
func rawRequest(t *testing.T, conn net.Conn, br *bufio.Reader, method, path, want string) {
	t.Helper()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", method, path)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), want) {
		n, err := br.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("%s %s: reading for %q: %v; got %q", method, path, want, err, got.String())
		}
	}
}

// TestClientCutMidStream cuts the TCP connection of a receiving request
// and checks that the session ends at once, closed by the client.
func TestClientCutMidStream(t *testing.T) {
	tests := []struct {
		name, method, path, open string
		poll                     bool // the first response completes; a second request hangs
	}{
		{"xhr_streaming", "POST", "/0/%s/xhr_streaming", "o\n", false},
		{"xhr", "POST", "/0/%s/xhr", "o\n", true},
		{"eventsource", "GET", "/0/%s/eventsource", "data: o\r\n\r\n", false},
		{"htmlfile", "GET", "/0/%s/htmlfile?c=cb", `p("o");`, false},
		{"jsonp", "GET", "/0/%s/jsonp?c=cb", `cb("o");`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, ended := endServer(t, sockjs.Options{DisconnectDelay: time.Minute, AllowJSONP: true})
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			path := "/x" + fmt.Sprintf(tt.path, tt.name)
			rawRequest(t, conn, br, tt.method, path, tt.open)
			if tt.poll {
				fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", tt.method, path)
			}
			conn.Close()
			// The disconnect delay is a minute: only detection can end it now.
			waitEnd(t, ended, sockjs.ErrClientClosed)
		})
	}
}

// TestPollingClientThatNeverReturnsTimesOut: a polling client that stops
// polling is detected by the disconnect delay.
func TestPollingClientThatNeverReturnsTimesOut(t *testing.T) {
	t.Parallel()
	srv, ended := endServer(t, sockjs.Options{DisconnectDelay: 100 * time.Millisecond})
	resp, err := http.Post(srv.URL+"/x/0/s/xhr", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitEnd(t, ended, sockjs.ErrTimedOut)
}

func dialEndWS(t *testing.T, srv *httptest.Server) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/x/0/s/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "o" {
		t.Fatalf("open frame: %q %v", msg, err)
	}
	return ws
}

func TestWebSocketTCPCut(t *testing.T) {
	t.Parallel()
	srv, ended := endServer(t, sockjs.Options{DisconnectDelay: time.Minute})
	ws := dialEndWS(t, srv)
	ws.NetConn().Close() // no close frame: the TCP connection just ends
	waitEnd(t, ended, sockjs.ErrClientClosed)
}

func TestWebSocketClientClose(t *testing.T) {
	t.Parallel()
	srv, ended := endServer(t, sockjs.Options{})
	ws := dialEndWS(t, srv)
	ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"))
	select {
	case err := <-ended:
		var ce *sockjs.CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "bye" || !errors.Is(err, sockjs.ErrClientClosed) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
	}
	ws.Close()
}

// TestWebSocketHalfOpen: a peer that stops reading (so never answers the
// pings sent with heartbeats) is dropped after HeartbeatDelay+PongTimeout.
func TestWebSocketHalfOpen(t *testing.T) {
	t.Parallel()
	srv, ended := endServer(t, sockjs.Options{
		HeartbeatDelay:  50 * time.Millisecond,
		PongTimeout:     50 * time.Millisecond,
		DisconnectDelay: time.Minute,
	})
	ws := dialEndWS(t, srv)
	defer ws.Close()
	// The client goes silent: it neither reads (so never answers pings) nor writes.
	waitEnd(t, ended, sockjs.ErrTimedOut)
}

// TestWebSocketHeartbeatKeepsLiveClient: a client that reads (and so
// answers pings) outlives several read-deadline windows
// (HeartbeatDelay+PongTimeout): the deadline is renewed by its pongs.
func TestWebSocketHeartbeatKeepsLiveClient(t *testing.T) {
	t.Parallel()
	srv, ended := endServer(t, sockjs.Options{
		HeartbeatDelay: 20 * time.Millisecond,
		PongTimeout:    time.Second, // generous: a loaded machine stalls
	})
	ws := dialEndWS(t, srv)
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	// Stay connected for 2.5 windows of HeartbeatDelay+PongTimeout.
	stayConnected(t, ws, 2550*time.Millisecond, ended, func(msg string) bool { return msg == "h" })
}

// stayConnected reads from ws for d, checking each message with ok, and
// then that the session has not ended.
func stayConnected(t *testing.T, ws *websocket.Conn, d time.Duration, ended <-chan error, ok func(string) bool) {
	t.Helper()
	for start := time.Now(); time.Since(start) < d; {
		if _, msg, err := ws.ReadMessage(); err != nil || !ok(string(msg)) {
			t.Fatalf("live client dropped or sent %q: %v", msg, err)
		}
	}
	select {
	case err := <-ended:
		t.Fatalf("session ended: %v", err)
	default:
	}
}

// A websocket client that only receives, while the application sends more
// often than the heartbeat delay, is pinged anyway and stays connected
// through several read-deadline windows.
func TestWebSocketPassiveClientStaysConnected(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 1)
	srv := appServer(t, sockjs.Options{HeartbeatDelay: 50 * time.Millisecond, PongTimeout: time.Second},
		func(ctx context.Context, s *sockjs.Session) {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					ended <- s.Err()
					return
				case <-tick.C:
					s.Send("tick")
				}
			}
		})
	ws := dialEndWS(t, srv)
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	// three windows of 1.05 s
	stayConnected(t, ws, 3200*time.Millisecond, ended, func(string) bool { return true })
}

// An application slower than HeartbeatDelay+PongTimeout to read is not
// taken for a silent client.
func TestWebSocketSlowApplicationIsNotAClientTimeout(t *testing.T) {
	t.Parallel()
	got := make(chan error, 8)
	// Windows of HeartbeatDelay+PongTimeout = 1.1 s: a loaded machine can
	// stall the server's reader past a shorter one (its read then fails on
	// the deadline though the client's bytes wait in the socket), which is
	// not what this test is about.
	srv := appServer(t, sockjs.Options{HeartbeatDelay: 100 * time.Millisecond, PongTimeout: time.Second, MaxInboxBytes: 1},
		func(ctx context.Context, s *sockjs.Session) {
			for i := 0; ; i++ {
				_, err := s.Recv(ctx)
				got <- err
				if err != nil {
					return
				}
				if i == 0 {
					time.Sleep(4500 * time.Millisecond) // the scenario: an application busy for 4 read windows
				}
			}
		})
	ws := dialEndWS(t, srv)
	defer ws.Close()
	go func() { // read, and so answer pings
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for range 3 {
		ws.WriteMessage(websocket.TextMessage, []byte(`["abcd"]`))
	}
	for i := range 4 {
		if i == 3 { // the connection must still be read after the slow spell
			ws.WriteMessage(websocket.TextMessage, []byte(`["late"]`))
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d never arrived", i)
		}
	}
}

// After the server closes a websocket, a client that answers once and then
// goes silent cannot keep the connection (and its goroutines) alive.
func TestWebSocketServerCloseEndsConnection(t *testing.T) {
	t.Parallel()
	srv := appServer(t, sockjs.Options{HeartbeatDelay: -1}, func(ctx context.Context, s *sockjs.Session) {
		s.Close(3000, "bye")
	})
	ws := dialEndWS(t, srv)
	defer ws.Close()
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != `c[3000,"bye"]` {
		t.Fatalf("close frame: %q %v", msg, err)
	}
	ws.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
	// Do not answer the server's close frame: the server must end the TCP
	// connection itself.
	raw := ws.NetConn()
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	for {
		if _, err := raw.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("server kept the closed websocket open")
			}
			return // EOF or reset: the server closed it
		}
	}
}

// A client's close frame is reported as the client's close, with its code,
// even while the server is busy writing to it.
func TestWebSocketClientCloseWhileServerWrites(t *testing.T) {
	t.Parallel()
	for i := range 10 {
		ended := make(chan error, 1)
		srv := appServer(t, sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
			tick := time.NewTicker(100 * time.Microsecond) // keep the writer busy
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					ended <- s.Err()
					return
				case <-tick.C:
					s.Send("flood")
				}
			}
		})
		ws := dialEndWS(t, srv)
		ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"))
		select {
		case err := <-ended:
			var ce *sockjs.CloseError
			if !errors.As(err, &ce) || ce.Code != 4001 || !errors.Is(err, sockjs.ErrClientClosed) {
				t.Fatalf("round %d: got %v, want the client's 4001 close", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: session did not end", i)
		}
		ws.Close()
	}
}

// After Shutdown, requests that would create a session get 503 and leave
// nothing behind; sessions already there still answer.
func TestShutdownRefusesNewSessions(t *testing.T) {
	t.Parallel()
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) { <-ctx.Done() })
	srv := httptest.NewServer(h)
	defer srv.Close()
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/0/a/xhr", "/0/b/xhr_streaming"} {
		resp, err := http.Post(srv.URL+path, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("POST %s after Shutdown: %d, want 503", path, resp.StatusCode)
		}
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/0/c/websocket", nil); err == nil {
		t.Fatal("websocket accepted after Shutdown")
	}
	if n := h.Len(); n != 0 {
		t.Fatalf("Len = %d after Shutdown, want 0", n)
	}
}
