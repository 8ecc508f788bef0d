package sockjs_test

// Goroutine-leak checks over every close path of every transport: for each
// transport of peerTransports and each way a session ends, once the session
// has ended and the handler has shut down (which stops its scheduler) and
// the server has closed, no goroutine the case started is left
// (goleak.VerifyNone). TestMain (leak_main_test.go) checks the whole
// package the same way at the end.
//
// Not parallel: goleak looks at every goroutine of the process, so these
// run while no parallel test does (parallel tests start only after the
// sequential ones). Goroutines that were there before a case are ignored.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/sockline/sockline/sockjs"
)

// errAppClosed is what leakApp reports when it closed the session itself.
var errAppClosed = errors.New("the application closed the session")

// leakApp echoes, closes the session with 3000 and the rest of the message
// on "!close <reason>", and reports once why its session ended.
func leakApp(ended chan<- error) sockjs.HandlerFunc {
	return func(ctx context.Context, s *sockjs.Session) {
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				ended <- err
				return
			}
			if reason, ok := strings.CutPrefix(msg, "!close "); ok {
				_ = s.Close(3000, reason)
				ended <- errAppClosed
				return
			}
			_ = s.Send(msg)
		}
	}
}

// errInjected is the write error of a faultyConn.
var errInjected = errors.New("injected write failure")

// faultyListener hands out connections whose writes all fail once fail is
// set: a client that stopped taking data, without waiting for a timeout.
type faultyListener struct {
	net.Listener
	fail atomic.Bool
}

func (l *faultyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &faultyConn{Conn: c, l: l}, nil
}

type faultyConn struct {
	net.Conn
	l *faultyListener
}

func (c *faultyConn) Write(p []byte) (int, error) {
	if c.l.fail.Load() {
		return 0, errInjected
	}
	return c.Conn.Write(p)
}

// leakCase is one transport and one ending, with its own handler and
// server.
type leakCase struct {
	t        *testing.T
	tr       peerTransport
	h        *sockjs.Handler
	srv      *httptest.Server
	ln       *faultyListener
	base     string // http://host/x
	ended    chan error
	peer     peer      // the session's client, when the ending uses one
	closers  []func()  // other clients to close
	stopOnce sync.Once // stop runs once
}

func newLeakCase(t *testing.T, tr peerTransport, mod func(*sockjs.Options)) *leakCase {
	t.Helper()
	o := sockjs.Options{
		RawWebSocket:    true,
		AllowJSONP:      true, // origins stay restricted; the clients send no Origin
		DisconnectDelay: time.Second,
		WriteTimeout:    5 * time.Second,
	}
	if mod != nil {
		mod(&o)
	}
	lc := &leakCase{t: t, tr: tr, ended: make(chan error, 1)}
	lc.h = sockjs.NewHandler(o, leakApp(lc.ended))
	r := chi.NewRouter()
	r.Mount("/x", lc.h)
	lc.srv = httptest.NewUnstartedServer(r)
	lc.ln = &faultyListener{Listener: lc.srv.Listener}
	lc.srv.Listener = lc.ln
	lc.srv.Start()
	lc.base = lc.srv.URL + "/x"
	t.Cleanup(lc.stop)
	return lc
}

// dial opens the session with the transport's test client and makes one
// round trip.
func (lc *leakCase) dial() peer {
	lc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioWait)
	defer cancel()
	p, err := lc.tr.dial(ctx, lc.base)
	if err != nil {
		lc.t.Fatalf("%s: open: %v", lc.tr.name, err)
	}
	lc.peer = p
	// One echo: the application runs (a raw websocket's client is
	// connected before its session exists) and the receiver is attached.
	if err := p.Send("ping"); err != nil {
		lc.t.Fatalf("%s: send: %v", lc.tr.name, err)
	}
	if ev, err := p.Next(scenarioWait); err != nil || ev.Msg != "ping" {
		lc.t.Fatalf("%s: got %+v, %v; want the echo of ping", lc.tr.name, ev, err)
	}
	return p
}

// expectClose reads events until the session's close, which must carry
// code.
func (lc *leakCase) expectClose(code int) {
	lc.t.Helper()
	for {
		ev, err := lc.peer.Next(scenarioWait)
		if err != nil {
			lc.t.Fatalf("%s: waiting for the close %d: %v", lc.tr.name, code, err)
		}
		if ev.Closed {
			if ev.Code != code {
				lc.t.Fatalf("%s: closed with %d %q; want %d", lc.tr.name, ev.Code, ev.Reason, code)
			}
			return
		}
	}
}

// waitEnded waits for the application to see its session end with one of
// want.
func (lc *leakCase) waitEnded(want ...error) {
	lc.t.Helper()
	select {
	case err := <-lc.ended:
		for _, w := range want {
			if errors.Is(err, w) {
				return
			}
		}
		lc.t.Fatalf("%s: the session ended with %v; want one of %v", lc.tr.name, err, want)
	case <-time.After(scenarioWait):
		lc.t.Fatalf("%s: the session did not end within %v", lc.tr.name, scenarioWait)
	}
}

// stop shuts the handler down (ending every session and stopping its
// scheduler), closes the server and every client.
func (lc *leakCase) stop() {
	lc.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), scenarioWait)
		defer cancel()
		if err := lc.h.Shutdown(ctx); err != nil {
			lc.t.Errorf("Handler.Shutdown: %v", err)
		}
		lc.srv.Close()
		if lc.peer != nil {
			lc.peer.Close()
		}
		for _, c := range lc.closers {
			c()
		}
		peerHTTPClient.CloseIdleConnections()
	})
}

// openAndLeave opens a session with one receiving request that ends by
// itself (a poll, or a stream with a response limit of one byte), then
// leaves it alone. The websockets connect and never read again, so they
// answer no ping.
func (lc *leakCase) openAndLeave() {
	lc.t.Helper()
	sess := lc.base + "/000/" + newSID()
	var method, url string
	switch lc.tr.name {
	case "websocket", "rawwebsocket":
		url = sess + "/websocket"
		if lc.tr.name == "rawwebsocket" {
			url = lc.base + "/websocket"
		}
		d := websocket.Dialer{HandshakeTimeout: scenarioWait}
		conn, _, err := d.Dial("ws"+strings.TrimPrefix(url, "http"), nil)
		if err != nil {
			lc.t.Fatalf("%s: dial: %v", lc.tr.name, err)
		}
		lc.closers = append(lc.closers, func() { _ = conn.Close() })
		return
	case "xhr", "xhr_streaming":
		method, url = http.MethodPost, sess+"/"+lc.tr.name
	case "eventsource":
		method, url = http.MethodGet, sess+"/eventsource"
	case "htmlfile", "jsonp":
		method, url = http.MethodGet, sess+"/"+lc.tr.name+"?c="+peerCallback
	default:
		lc.t.Fatalf("no way to open %s once", lc.tr.name)
	}
	tr := &http.Transport{}
	lc.closers = append(lc.closers, tr.CloseIdleConnections)
	req, _ := http.NewRequest(method, url, nil)
	resp, err := (&http.Client{Transport: tr, Timeout: scenarioWait}).Do(req)
	if err != nil {
		lc.t.Fatalf("%s: %v", lc.tr.name, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "o") {
		lc.t.Fatalf("%s: %d %q, %v; want the open frame and the end of the response", lc.tr.name, resp.StatusCode, body, err)
	}
}

// polling reports whether the transport's client goes without a receiving
// request between two polls.
func polling(tr peerTransport) bool { return tr.name == "xhr" || tr.name == "jsonp" }

// leakEnds are the ways a session ends.
var leakEnds = []struct {
	name string
	opts func(*sockjs.Options)
	end  func(lc *leakCase)
}{
	{"app_closes", nil, func(lc *leakCase) {
		p := lc.dial()
		if err := p.Send("!close bye"); err != nil {
			lc.t.Fatalf("send: %v", err)
		}
		lc.expectClose(3000)
		lc.waitEnded(errAppClosed)
	}},
	{"client_goes_away", nil, func(lc *leakCase) {
		p := lc.dial()
		p.Close() // mid-response: the receiving request (or websocket) is open
		if polling(lc.tr) {
			// Between two polls nothing is cut: the session expires.
			lc.waitEnded(sockjs.ErrClientClosed, sockjs.ErrTimedOut)
			return
		}
		lc.waitEnded(sockjs.ErrClientClosed)
	}},
	{"expires", func(o *sockjs.Options) {
		o.ResponseLimit = 1 // streams end after the open frame
		o.HeartbeatDelay, o.PongTimeout = 100*time.Millisecond, 100*time.Millisecond
	}, func(lc *leakCase) {
		lc.openAndLeave()
		lc.waitEnded(sockjs.ErrTimedOut)
		// The closed session is remembered for the disconnect delay, then
		// forgotten by the scheduler.
		deadline := time.Now().Add(scenarioWait)
		for lc.h.Len() > 0 {
			if time.Now().After(deadline) {
				lc.t.Fatalf("%s: the handler still holds %d sessions", lc.tr.name, lc.h.Len())
			}
			time.Sleep(10 * time.Millisecond) // polling a count: no event to wait on
		}
	}},
	{"handler_shutdown", nil, func(lc *leakCase) {
		lc.dial()
		ctx, cancel := context.WithTimeout(context.Background(), scenarioWait)
		defer cancel()
		if err := lc.h.Shutdown(ctx); err != nil {
			lc.t.Fatalf("Handler.Shutdown: %v", err)
		}
		if polling(lc.tr) {
			// A client between two polls is told by the next one: the close
			// frame while the handler still remembers the session, a 503
			// once it has forgotten it.
			if ev, err := lc.peer.Next(scenarioWait); err != nil && !strings.Contains(err.Error(), "503") || err == nil && (!ev.Closed || ev.Code != 1001) {
				lc.t.Fatalf("%s: after Shutdown got %+v, %v; want the close 1001 or a 503", lc.tr.name, ev, err)
			}
		} else {
			lc.expectClose(1001)
		}
		lc.waitEnded(sockjs.ErrServerClosed)
	}},
	{"write_failure", nil, func(lc *leakCase) {
		lc.dial()
		lc.ln.fail.Store(true)
		lc.h.Broadcast("lost")
		lc.waitEnded(sockjs.ErrWriteFailed)
	}},
}

func TestNoGoroutineLeftOnAnyClosePath(t *testing.T) {
	for _, tr := range peerTransports {
		for _, e := range leakEnds {
			t.Run(tr.name+"/"+e.name, func(t *testing.T) {
				before := goleak.IgnoreCurrent()
				lc := newLeakCase(t, tr, e.opts)
				e.end(lc)
				lc.stop()
				verifyNoGoroutineLeft(t, before)
			})
		}
	}
}
