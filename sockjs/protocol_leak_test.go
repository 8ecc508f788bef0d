package sockjs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/goleak"

	"github.com/sockline/sockline/examples/testserver/services"
	"github.com/sockline/sockline/sockjs"
)

// Nothing outlives a closed handler: with sessions on every core transport
// (a waiting long-poll, a streaming response, a websocket, a session with
// no receiver and a closed one, on two handlers at once), Handler.Shutdown
// and closing the server leave no goroutine the test started. The same,
// one transport and one way to end at a time: leak_test.go.
//
// Not parallel: goleak looks at every goroutine of the process. Parallel
// tests are paused while it runs (they start only after the sequential ones).
func TestProtocolNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	ignore := goleak.IgnoreCurrent()

	// Sessions outlive the test's requests however slow the machine:
	// Shutdown is what must end them.
	h := sockjs.NewHandler(sockjs.Options{AllowAnyOrigin: true, DisconnectDelay: 10 * time.Second}, services.Echo)
	hc := sockjs.NewHandler(sockjs.Options{AllowAnyOrigin: true, DisconnectDelay: 10 * time.Second},
		func(_ context.Context, s *sockjs.Session) { _ = s.Close(3000, "Go away!") })
	r := chi.NewRouter()
	r.Mount("/echo", h)
	r.Mount("/close", hc)
	srv := httptest.NewServer(r)
	f := &fixture{srv: srv, addr: srv.Listener.Addr().String(), echo: h, close: hc}

	// A waiting long-poll.
	poll := sessionBase("/echo")
	expectBody(t, f.post(t, poll+"/xhr", ""), http.StatusOK, "o\n")
	pc := dialRaw(t, f.addr)
	pc.Write(request{Method: http.MethodPost, Path: poll + "/xhr"})
	// A streaming response.
	_, sr := f.open(t, http.MethodPost, sessionBase("/echo")+"/xhr_streaming", "")
	sr.ExpectChunk(xhrPrelude)
	sr.ExpectChunk("o\n")
	// A websocket that has echoed.
	ws := dialWS(t, f.addr, sessionBase("/echo")+"/websocket")
	wsExpect(t, ws, frameOpen)
	wsSend(t, ws, `["a"]`)
	wsExpect(t, ws, `a["a"]`)
	// A session with no receiver, and a closed one.
	expectBody(t, f.post(t, sessionBase("/echo")+"/xhr", ""), http.StatusOK, "o\n")
	closed := sessionBase("/close")
	expectBody(t, f.post(t, closed+"/xhr", ""), http.StatusOK, "o\n")
	expectBody(t, f.post(t, closed+"/xhr", ""), http.StatusOK, frameGoAway+"\n")

	if during := runtime.NumGoroutine(); during <= before {
		t.Fatalf("%d goroutines with sessions open, %d before: the test opened nothing", during, before)
	}

	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	for _, sh := range []*sockjs.Handler{h, hc} {
		if err := sh.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	// Every receiver is told, and every response ends.
	wantShutdown := `c[1001,"Server is shutting down"]`
	if got := pc.ReadResponse("waiting poll").Body(); got != wantShutdown+"\n" {
		t.Errorf("waiting poll ended with %q; want %q", got, wantShutdown+"\n")
	}
	sr.ExpectChunk(wantShutdown + "\n")
	sr.ExpectEnd()
	wsExpect(t, ws, wantShutdown)
	wsExpectClosed(t, ws, ioTimeout)
	srv.Close()
	if n := h.Len() + hc.Len(); n != 0 {
		t.Errorf("handlers still hold %d sessions after Shutdown", n)
	}

	verifyNoGoroutineLeft(t, ignore)
}

// warmUp runs one server and request, so that goroutines the runtime and
// net/http start once per process are not counted as leaks by tests that
// count goroutines.
func warmUp(t *testing.T) {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	c := dialRaw(t, srv.Listener.Addr().String())
	c.Do(request{Method: http.MethodGet, Path: "/"}).Body()
	c.Close()
	srv.Close()
}
