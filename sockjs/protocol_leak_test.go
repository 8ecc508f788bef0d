package sockjs_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sockline/sockline/examples/testserver/services"
	"github.com/sockline/sockline/sockjs"
)

// Nothing outlives a closed handler: with sessions on every core transport
// (a waiting long-poll, a streaming response, a websocket, a session with
// no receiver and a closed one), Handler.Shutdown and closing the server
// bring the goroutine count back to where it was.
//
// Not parallel: it counts every goroutine of the process. Parallel tests
// are paused while it runs (they start only after the sequential ones).
func TestProtocolNoGoroutineLeak(t *testing.T) {
	warmUp(t)
	before := runtime.NumGoroutine()

	h := sockjs.NewHandler(sockjs.Options{AllowAnyOrigin: true, DisconnectDelay: 200 * time.Millisecond}, services.Echo)
	hc := sockjs.NewHandler(sockjs.Options{AllowAnyOrigin: true, DisconnectDelay: 200 * time.Millisecond},
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

	deadline := time.Now().Add(ioTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			var b bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%d goroutines %v after shutdown; %d before:\n%s", runtime.NumGoroutine(), ioTimeout, before, b.String())
		}
		time.Sleep(5 * time.Millisecond) // polling a count: there is no event to wait on
	}
}

// warmUp runs one server and request, so that goroutines the runtime and
// net/http start once per process are not counted as leaks.
func warmUp(t *testing.T) {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	c := dialRaw(t, srv.Listener.Addr().String())
	c.Do(request{Method: http.MethodGet, Path: "/"}).Body()
	c.Close()
	srv.Close()
}
