package sockjs_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/sockline/sockline/examples/testserver/services"
	"github.com/sockline/sockline/sockjs"
)

const frameShutdown = `c[1001,"Server is shutting down"]`

// serveShutdownFixture serves h on a real http.Server on 127.0.0.1 (the
// way an application deploys it, with its own timeouts) and returns the
// server, its address and a channel with Serve's result.
func serveShutdownFixture(t *testing.T, h http.Handler) (*http.Server, string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv, ln.Addr().String(), served
}

// The documented shutdown sequences, with a client attached on every kind
// of receiving connection: every client gets c[1001,"Server is shutting
// down"] and then the end of its response (websockets a close frame),
// Server.Shutdown returns in time, and no goroutine is left.
//
// Not parallel: goleak looks at every goroutine of the process.
func TestShutdownSequence(t *testing.T) {
	sequences := []struct {
		name string
		// register runs before the server starts; shut shuts down.
		register func(srv *http.Server, h *sockjs.Handler, ctx context.Context) <-chan error
		shut     func(srv *http.Server, h *sockjs.Handler, ctx context.Context) error
	}{
		{
			name: "handler first, then server",
			shut: func(srv *http.Server, h *sockjs.Handler, ctx context.Context) error {
				if err := h.Shutdown(ctx); err != nil {
					return err
				}
				return srv.Shutdown(ctx)
			},
		},
		{
			name: "RegisterOnShutdown",
			register: func(srv *http.Server, h *sockjs.Handler, ctx context.Context) <-chan error {
				done := make(chan error, 1)
				srv.RegisterOnShutdown(func() { done <- h.Shutdown(ctx) })
				return done
			},
			shut: func(srv *http.Server, _ *sockjs.Handler, ctx context.Context) error {
				return srv.Shutdown(ctx)
			},
		},
	}
	for _, seq := range sequences {
		t.Run(seq.name, func(t *testing.T) {
			defer verifyNoGoroutineLeft(t, goleak.IgnoreCurrent())
			testShutdownSequence(t, seq.register, seq.shut)
		})
	}
}

func testShutdownSequence(t *testing.T,
	register func(*http.Server, *sockjs.Handler, context.Context) <-chan error,
	shut func(*http.Server, *sockjs.Handler, context.Context) error,
) {
	h := sockjs.NewHandler(sockjs.Options{RawWebSocket: true}, services.Echo)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	// A generous bound: the sequence must finish long before it, so a
	// timeout is a failure, not a slow machine.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var onShutdown <-chan error
	if register != nil {
		onShutdown = register(srv, h, ctx)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer srv.Close()
	f := &fixture{addr: ln.Addr().String()}

	// xhr_streaming, eventsource and htmlfile responses, open.
	xc, xs := f.open(t, http.MethodPost, "/000/"+newSID()+"/xhr_streaming", "")
	xs.ExpectChunk(xhrPrelude)
	xs.ExpectChunk("o\n")
	ec, es := f.open(t, http.MethodGet, "/000/"+newSID()+"/eventsource", "")
	es.ExpectChunk("\r\n")
	es.ExpectChunk("data: o\r\n\r\n")
	hc, hs := f.open(t, http.MethodGet, "/000/"+newSID()+"/htmlfile?c=callback", "")
	hs.NextChunk() // the page head
	hs.ExpectChunk(htmlfileChunk(`"o"`))
	// A long-poll, waiting (racePolls proves it is attached).
	poll := "/000/" + newSID()
	expectBody(t, f.post(t, poll+"/xhr", ""), http.StatusOK, "o\n")
	pc, pollDone := racePolls(t, f, poll)
	// A SockJS websocket and a raw one, both having echoed.
	ws := dialWS(t, f.addr, "/000/"+newSID()+"/websocket")
	wsExpect(t, ws, frameOpen)
	wsSend(t, ws, `["a"]`)
	wsExpect(t, ws, `a["a"]`)
	raw := dialWS(t, f.addr, "/websocket")
	wsSend(t, raw, "b")
	wsExpect(t, raw, "b")

	shutErr := make(chan error, 1)
	go func() { shutErr <- shut(srv, h, ctx) }()

	xs.ExpectChunk(frameShutdown + "\n")
	xs.ExpectEnd()
	es.ExpectChunk("data: " + frameShutdown + "\r\n\r\n")
	es.ExpectEnd()
	hs.ExpectChunk(htmlfileChunk(`"c[1001,\"Server is shutting down\"]"`))
	hs.ExpectEnd()
	select {
	case res := <-pollDone:
		if res.err != nil {
			t.Fatal(res.err)
		}
		if res.body != frameShutdown+"\n" {
			t.Fatalf("waiting poll answered %q; want %q", res.body, frameShutdown+"\n")
		}
	case <-time.After(ioTimeout):
		t.Fatal("the waiting poll got no answer")
	}
	wsExpect(t, ws, frameShutdown)
	wsExpectCloseCode(t, ws, websocket.CloseNormalClosure, "")
	wsExpectCloseCode(t, raw, websocket.CloseGoingAway, "Server is shutting down")

	select {
	case err := <-shutErr:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("shutdown did not return")
	}
	if onShutdown != nil {
		if err := <-onShutdown; err != nil {
			t.Fatalf("Handler.Shutdown from RegisterOnShutdown: %v", err)
		}
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v; want http.ErrServerClosed", err)
	}
	if n := h.Len(); n != 0 {
		t.Fatalf("Len = %d after Shutdown; want 0", n)
	}
	for _, c := range []*rawConn{xc, ec, hc, pc} {
		c.Close()
	}
	_ = ws.Close()
	_ = raw.Close()
}

// wsExpectCloseCode reads until the connection ends and checks it ended
// with a WebSocket close frame carrying code and reason (not a dropped
// connection, which gorilla reports as 1006).
func wsExpectCloseCode(t *testing.T, c *websocket.Conn, code int, reason string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	_, data, err := c.ReadMessage()
	if err == nil {
		t.Fatalf("websocket: got message %q; want a close frame %d", data, code)
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code || ce.Text != reason {
		t.Fatalf("websocket ended with %v; want a close frame %d %q", err, code, reason)
	}
}

// Shutdown with a context that ends first (an application handler that
// never returns) reports it, yet leaves no goroutine of its own behind:
// only the stuck application handler remains, and once it returns, nothing.
func TestShutdownExpiredContextLeavesNoGoroutine(t *testing.T) {
	defer verifyNoGoroutineLeft(t, goleak.IgnoreCurrent())
	release := make(chan struct{})
	h := sockjs.NewHandler(sockjs.Options{}, func(context.Context, *sockjs.Session) {
		<-release // ignores its session's end
	})
	srv, addr, _ := serveShutdownFixture(t, h)
	f := &fixture{addr: addr}
	c, r := f.open(t, http.MethodPost, "/000/"+newSID()+"/xhr_streaming", "")
	r.ExpectChunk(xhrPrelude)
	r.ExpectChunk("o\n")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := h.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v; want an error wrapping context.DeadlineExceeded", err)
	}
	// The session was closed all the same.
	r.ExpectChunk(frameShutdown + "\n")
	r.ExpectEnd()
	c.Close()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("Server.Shutdown: %v", err)
	}
	// Only the application's handler may still run.
	if err := goleak.Find(goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/sockline/sockline/sockjs_test.TestShutdownExpiredContextLeavesNoGoroutine.func1")); err != nil {
		close(release)
		t.Fatalf("goroutines left while the application handler is stuck:\n%v", err)
	}
	close(release)
}

// Handler.Shutdown returns only once every websocket has been sent its
// close frame and its connection has ended (Server.Shutdown does not wait
// for hijacked connections, so nothing else would), even when the client
// does not answer the close: here it reads nothing until Shutdown returns.
//
// Not parallel: it looks at every goroutine of the process.
func TestShutdownWaitsForWebsockets(t *testing.T) {
	h := sockjs.NewHandler(sockjs.Options{RawWebSocket: true}, services.Echo)
	srv, addr, _ := serveShutdownFixture(t, h)
	ws := dialWS(t, addr, "/000/"+newSID()+"/websocket")
	wsExpect(t, ws, frameOpen)
	raw := dialWS(t, addr, "/websocket")
	wsSend(t, raw, "b")
	wsExpect(t, raw, "b")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := goroutinesIn("transports.(*Config).WebSocket", "transports.(*Config).RawWebSocket"); n != 0 {
		t.Fatalf("%d websocket handlers still running after Shutdown returned", n)
	}
	wsExpect(t, ws, frameShutdown)
	wsExpectCloseCode(t, ws, websocket.CloseNormalClosure, "")
	wsExpectCloseCode(t, raw, websocket.CloseGoingAway, "Server is shutting down")
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Server.Shutdown: %v", err)
	}
}

// goroutinesIn counts the goroutines whose stack holds one of funcs.
func goroutinesIn(funcs ...string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) {
				count++
				break
			}
		}
	}
	return count
}
