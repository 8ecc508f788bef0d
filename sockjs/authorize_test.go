package sockjs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/session"
	"github.com/sockline/sockline/sockjs"
)

// openRequest is one request that would create a session, per transport.
type openRequest struct {
	transport string
	method    string
	path      string // below the session base, or absolute for rawwebsocket
	websocket bool
}

var openRequests = []openRequest{
	{"xhr", http.MethodPost, "/xhr", false},
	{"xhr_streaming", http.MethodPost, "/xhr_streaming", false},
	{"eventsource", http.MethodGet, "/eventsource", false},
	{"htmlfile", http.MethodGet, "/htmlfile?c=cb", false},
	{"jsonp", http.MethodGet, "/jsonp?c=cb", false},
	{"websocket", http.MethodGet, "/websocket", true},
	{"rawwebsocket", http.MethodGet, "/websocket", true},
}

// send makes or; it returns the status and body, or for a websocket the
// handshake's status and the first message when it was accepted.
func (or openRequest) send(t *testing.T, base string) (int, string) {
	t.Helper()
	u := base + "/0/" + newSID() + or.path
	if or.transport == "rawwebsocket" {
		u = base + or.path
	}
	if or.websocket {
		d := websocket.Dialer{HandshakeTimeout: ioTimeout}
		conn, resp, err := d.Dial("ws"+strings.TrimPrefix(u, "http"), nil)
		if err == nil {
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(ioTimeout))
			_, msg, _ := conn.ReadMessage()
			return http.StatusSwitchingProtocols, string(msg)
		}
		if resp == nil {
			t.Fatalf("%s: %v", or.transport, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, or.method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", or.transport, err)
	}
	defer resp.Body.Close()
	var b [4096]byte
	n, _ := io.ReadAtLeast(resp.Body, b[:], 1) // streams do not end: their start is enough
	return resp.StatusCode, string(b[:n])
}

// A refusal by Authorize, on every transport, answers the chosen status
// before anything of a session is sent, and leaves nothing behind: no
// session in the handler, no handler run, no goroutine.
//
// Not parallel: it counts the process's goroutines.
func TestAuthorizeRefusesEveryTransport(t *testing.T) {
	for _, tt := range []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"unauthorized", fmt.Errorf("token expired: %w", sockjs.ErrUnauthorized), http.StatusUnauthorized, "Unauthorized."},
		{"forbidden", sockjs.ErrForbidden, http.StatusForbidden, "Forbidden."},
		{"any error", errors.New("db says no (internal detail)"), http.StatusForbidden, "Forbidden."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			warmUp(t)
			before := runtime.NumGoroutine()
			var asked, ran, refusals atomic.Int32
			ev := &countingEvents{}
			h := sockjs.NewHandler(sockjs.Options{
				RawWebSocket: true,
				AllowJSONP:   true,
				Events:       ev,
				Authorize: func(r *http.Request) (context.Context, error) {
					asked.Add(1)
					return nil, tt.err
				},
			}, func(context.Context, *sockjs.Session) { ran.Add(1) })
			ev.onAuthRefused = func(_ *http.Request, _ string, err error) {
				if errors.Is(err, tt.err) {
					refusals.Add(1)
				}
			}
			srv := httptest.NewServer(http.StripPrefix("/x", h))
			for _, or := range openRequests {
				status, body := or.send(t, srv.URL+"/x")
				if status != tt.status || body != tt.body {
					t.Errorf("%s: %d %q, want %d %q", or.transport, status, body, tt.status, tt.body)
				}
			}
			if n := int(asked.Load()); n != len(openRequests) {
				t.Errorf("Authorize asked %d times for %d requests", n, len(openRequests))
			}
			if n := int(refusals.Load()); n != len(openRequests) {
				t.Errorf("Events.AuthorizationRefused told %d times for %d refusals", n, len(openRequests))
			}
			if n := ran.Load(); n != 0 {
				t.Errorf("the session handler ran %d times", n)
			}
			if n := h.Len(); n != 0 {
				t.Errorf("the handler holds %d sessions", n)
			}
			srv.Close()
			shutdown(t, h)
			waitGoroutines(t, before)
		})
	}
}

// waitGoroutines waits until no more goroutines run than before.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			var b bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%d goroutines after %v; %d before:\n%s", runtime.NumGoroutine(), ioTimeout, before, b.String())
		}
		time.Sleep(5 * time.Millisecond) // polling a count: there is no event to wait on
	}
}

type roleKey struct{}

// An accepted session's handler sees the context Authorize returned (and
// the request's own values through it); sends and later polls of the
// session are not authorized again, on every transport.
func TestAuthorizeContextReachesHandler(t *testing.T) {
	t.Parallel()
	var asked atomic.Int32
	h := sockjs.NewHandler(sockjs.Options{
		RawWebSocket: true,
		AllowJSONP:   true,
		Authorize: func(r *http.Request) (context.Context, error) {
			asked.Add(1)
			return context.WithValue(r.Context(), roleKey{}, "admin"), nil
		},
	}, func(ctx context.Context, s *sockjs.Session) {
		if _, err := s.Recv(ctx); err != nil {
			return
		}
		_ = s.Send(fmt.Sprintf("%v %v %v", ctx.Value(roleKey{}), ctx.Value(userKey{}), s.Request().Context().Value(roleKey{})))
		for {
			if _, err := s.Recv(ctx); err != nil {
				return
			}
			_ = s.Send("again")
		}
	})
	srv := httptest.NewServer(withUser(http.StripPrefix("/x", h)))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { shutdown(t, h) }) // first: the polling sessions would outlive the test
	for _, tr := range peerTransports {
		t.Run(tr.name, func(t *testing.T) {
			asked.Store(0)
			ctx, cancel := context.WithTimeout(t.Context(), scenarioWait)
			defer cancel()
			p, err := tr.dial(ctx, srv.URL+"/x")
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for i, want := range []string{"admin anonymous admin", "again", "again"} {
				if err := p.Send("hi"); err != nil {
					t.Fatal(err)
				}
				ev, err := p.Next(scenarioWait)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Msg != want {
					t.Fatalf("message %d: %q, want %q", i, ev.Msg, want)
				}
			}
			if n := asked.Load(); n != 1 {
				t.Fatalf("Authorize asked %d times for one session", n)
			}
		})
	}
}

// A request that creates a session it may not run gets a closed session
// whose first frame is the close frame, never an open frame: the handler
// does not run and the session is not kept. Two ways lead there, and in
// both the client may have had its "o" from a session under the same id
// that the handler has just forgotten: a request that found the session
// existing (so skipped Authorize) and saw it expire before Open, and a
// request that found it existing while Shutdown forgot it.
func TestOpenThatMayNotRunGivesOnlyTheCloseFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  sockjs.Options
		ready func(*testing.T, *sockjs.Handler) // before Open
		want  string
	}{
		{"not authorized", sockjs.Options{
			Authorize: func(*http.Request) (context.Context, error) { return nil, nil },
		}, func(*testing.T, *sockjs.Handler) {}, `c[1008,"Not authorized"]`},
		{"after Shutdown", sockjs.Options{}, shutdown, `c[1001,"Server is shutting down"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran atomic.Int32
			h := sockjs.NewHandler(tt.opts, func(context.Context, *sockjs.Session) { ran.Add(1) })
			tt.ready(t, h)
			for _, s := range []*session.Session{
				h.Open("s1", "xhr", httptest.NewRequest("POST", "/0/s1/xhr", nil)),
				h.OpenConnection("s2", "websocket", httptest.NewRequest("GET", "/0/s2/websocket", nil)),
			} {
				var ce *sockjs.CloseError
				if err := s.Err(); !errors.As(err, &ce) {
					t.Fatalf("%s: session opened: Err() = %v, want its close", s.ID(), err)
				}
				r, err := s.Attach(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				f, err := r.Next(context.Background())
				if err != nil || f.Kind != session.KindClose || string(f.Data) != tt.want {
					t.Errorf("%s: first frame %v %q, %v; want the close frame %s alone", s.ID(), f.Kind, f.Data, err, tt.want)
				}
			}
			if n := h.Len(); n != 0 || ran.Load() != 0 {
				t.Errorf("handler holds %d sessions, ran %d times; want none", n, ran.Load())
			}
			shutdown(t, h)
		})
	}
}
