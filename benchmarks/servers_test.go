package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	sockjsgo "github.com/igm/sockjs-go/v3/sockjs"
	"github.com/sockline/sockline/sockjs"
)

// timeout bounds every single wait of a benchmark or test: a dial, one
// round trip, one broadcast. Nothing here should come close to it.
const timeout = 10 * time.Second

// prefix is where both servers are mounted.
const prefix = "/echo"

// responseLimit replaces both servers' 128 KiB default, so that an
// xhr_streaming response is never ended (and reopened) mid-benchmark.
const responseLimit = 1 << 30

// server is one implementation serving an echo application on loopback.
type server struct {
	// base is the http:// URL of the SockJS prefix, e.g. http://127.0.0.1:1234/echo.
	base string
	// broadcast sends msg to every session, the way an application of this
	// implementation would.
	broadcast func(msg string)
	// awaitSessions waits until the application has n sessions. A client's
	// "o" frame does not imply that for sockjs-go, whose application starts
	// after the open frame is written.
	awaitSessions func(n int) error
	close         func()
}

// impl is one implementation under comparison.
type impl struct {
	name  string
	start func(tb testing.TB) *server
}

var impls = []impl{
	{"sockline", startSockline},
	{"sockjs-go", startSockjsGo},
}

// eachImpl runs f as the sub-benchmarks impl=sockline and impl=sockjs-go.
func eachImpl(b *testing.B, f func(b *testing.B, im impl)) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) { f(b, im) })
	}
}

// startSockline serves sockjs.NewHandler with an echo application.
func startSockline(tb testing.TB) *server {
	h := sockjs.NewHandler(sockjs.Options{Prefix: prefix, ResponseLimit: responseLimit},
		func(ctx context.Context, s *sockjs.Session) {
			for {
				m, err := s.Recv(ctx)
				if err != nil {
					return
				}
				if s.Send(m) != nil {
					return
				}
			}
		})
	ts := httptest.NewServer(h)
	return &server{
		base:      ts.URL + prefix,
		broadcast: h.Broadcast,
		// A websocket session is in the handler (and reached by Broadcast)
		// before its open frame is written.
		awaitSessions: func(int) error { return nil },
		close: func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if err := h.Shutdown(ctx); err != nil {
				tb.Error(err)
			}
			ts.Close()
		},
	}
}

// startSockjsGo serves sockjs-go's NewHandler("/echo", DefaultOptions, echo)
// with the same response limit. The application keeps its sessions in a
// hub, as a sockjs-go application must to broadcast.
func startSockjsGo(tb testing.TB) *server {
	hub := newHub()
	opts := sockjsgo.DefaultOptions
	opts.ResponseLimit = responseLimit
	h := sockjsgo.NewHandler(prefix, opts, func(s sockjsgo.Session) {
		hub.add(s)
		defer hub.remove(s)
		for {
			m, err := s.Recv()
			if err != nil {
				return
			}
			if s.Send(m) != nil {
				return
			}
		}
	})
	ts := httptest.NewServer(h)
	return &server{
		base: ts.URL + prefix,
		broadcast: func(msg string) {
			for _, s := range hub.snapshot() {
				_ = s.Send(msg)
			}
		},
		awaitSessions: hub.await,
		close:         ts.Close,
	}
}

// hub is the session set of the sockjs-go application.
type hub struct {
	mu       sync.Mutex
	sessions map[string]sockjsgo.Session
	changed  chan struct{} // closed and replaced on every change
}

func newHub() *hub {
	return &hub{sessions: make(map[string]sockjsgo.Session), changed: make(chan struct{})}
}

func (h *hub) add(s sockjsgo.Session) {
	h.mu.Lock()
	h.sessions[s.ID()] = s
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

func (h *hub) remove(s sockjsgo.Session) {
	h.mu.Lock()
	delete(h.sessions, s.ID())
	h.mu.Unlock()
}

func (h *hub) snapshot() []sockjsgo.Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]sockjsgo.Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, s)
	}
	return out
}

func (h *hub) await(n int) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		h.mu.Lock()
		have, ch := len(h.sessions), h.changed
		h.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
			return fmt.Errorf("sockjs-go application has %d sessions, want %d", have, n)
		}
	}
}

// sessionIDs makes every session id of the process unique.
var sessionIDs atomic.Int64

func sessionURL(base, transport string) string {
	return fmt.Sprintf("%s/000/s%d/%s", base, sessionIDs.Add(1), transport)
}

var dialer = websocket.Dialer{HandshakeTimeout: timeout}

// dialWS opens a websocket session (no Origin header, so the same-origin
// default of both servers lets it in) and reads its open frame.
func dialWS(base string) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(sessionURL(base, "websocket"), "http")
	conn, _, err := dialer.Dial(u, nil)
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	f, err := readWS(conn, nil)
	if err == nil && string(f) != "o" {
		err = fmt.Errorf("first frame %q, want o", f)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// readWS reads one websocket message into buf (reused, grown as needed)
// so that the client allocates nothing per message.
func readWS(conn *websocket.Conn, buf []byte) ([]byte, error) {
	_, r, err := conn.NextReader()
	if err != nil {
		return buf, err
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// readMessages reads websocket frames, skipping heartbeats, until one
// carries messages; it returns that a[...] frame.
func readMessages(conn *websocket.Conn, buf []byte) ([]byte, error) {
	for {
		f, err := readWS(conn, buf)
		if err != nil {
			return f, err
		}
		buf = f
		switch {
		case len(f) > 0 && f[0] == 'a':
			return f, nil
		case string(f) == "h":
			continue
		default:
			return f, fmt.Errorf("unexpected frame %q", f)
		}
	}
}
