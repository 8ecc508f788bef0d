package sockjs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/sockjs"
)

// countingEvents tallies events by name (and transport).
type countingEvents struct {
	sockjs.NopEvents
	mu            sync.Mutex
	n             map[string]int
	closed        []*sockjs.CloseError
	onAuthRefused func(*http.Request, string, error)
}

func (e *countingEvents) add(name string, k int) {
	e.mu.Lock()
	if e.n == nil {
		e.n = make(map[string]int)
	}
	e.n[name] += k
	e.mu.Unlock()
}

func (e *countingEvents) get(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[name]
}

func (e *countingEvents) SessionOpened(tr string) { e.add("opened "+tr, 1) }
func (e *countingEvents) SessionClosed(tr string, d time.Duration, ce *sockjs.CloseError) {
	e.add("closed "+tr, 1)
	e.mu.Lock()
	e.closed = append(e.closed, ce)
	e.mu.Unlock()
}
func (e *countingEvents) MessagesIn(tr string, n, b int)  { e.add("in "+tr, n); e.add("in bytes", b) }
func (e *countingEvents) MessagesOut(tr string, n, b int) { e.add("out "+tr, n); e.add("out bytes", b) }
func (e *countingEvents) AnotherConnection(tr string)     { e.add("2010 "+tr, 1) }
func (e *countingEvents) Heartbeat(tr string)             { e.add("heartbeat "+tr, 1) }
func (e *countingEvents) OriginRefused(*http.Request)     { e.add("origin refused", 1) }
func (e *countingEvents) AuthorizationRefused(r *http.Request, tr string, err error) {
	e.add("auth refused "+tr, 1)
	if e.onAuthRefused != nil {
		e.onAuthRefused(r, tr, err)
	}
}

// waitCount waits until name has been counted want times.
func (e *countingEvents) waitCount(t *testing.T, name string, want int) {
	t.Helper()
	deadline := time.Now().Add(scenarioWait)
	for e.get(name) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d events, want %d", name, e.get(name), want)
		}
		time.Sleep(5 * time.Millisecond) // events come from other goroutines; nothing to wait on
	}
	if got := e.get(name); got != want {
		t.Fatalf("%s: %d events, want %d", name, got, want)
	}
}

// Every transport reports its sessions' opening and close, the messages
// both ways and heartbeats to Events.
func TestEventsEveryTransport(t *testing.T) {
	t.Parallel()
	ev := &countingEvents{}
	srv := appServer(t, sockjs.Options{RawWebSocket: true, AllowJSONP: true, Events: ev, HeartbeatDelay: 50 * time.Millisecond},
		func(ctx context.Context, s *sockjs.Session) {
			for {
				msg, err := s.Recv(ctx)
				if err != nil {
					return
				}
				if msg == "bye" {
					_ = s.Close(4001, "bye")
					return
				}
				_ = s.Send(msg)
			}
		})
	for _, tr := range peerTransports {
		t.Run(tr.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), scenarioWait)
			defer cancel()
			p, err := tr.dial(ctx, srv.URL+"/x")
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ev.waitCount(t, "opened "+tr.name, 1)
			if err := p.Send("ab", "cdé"); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := p.Next(scenarioWait); err != nil {
					t.Fatal(err)
				}
			}
			ev.waitCount(t, "in "+tr.name, 2)
			ev.waitCount(t, "out "+tr.name, 2)
			if err := p.Send("bye"); err != nil {
				t.Fatal(err)
			}
			ev.waitCount(t, "closed "+tr.name, 1)
		})
	}
	// In: "ab", "cdé", "bye"; out: the echoes "ab", "cdé": UTF-8 lengths
	// both ways, not the JSON encoding on the wire.
	if in, out := ev.get("in bytes"), ev.get("out bytes"); in != 9*len(peerTransports) || out != 6*len(peerTransports) {
		t.Errorf("bytes in %d, out %d; want %d, %d", in, out, 9*len(peerTransports), 6*len(peerTransports))
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, ce := range ev.closed {
		if ce.Code != 4001 || !errors.Is(ce, sockjs.ErrServerClosed) {
			t.Errorf("SessionClosed with %v, want 4001 by the server", ce)
		}
	}
}

// A connection that stays idle gets heartbeats, each reported.
func TestEventsHeartbeat(t *testing.T) {
	t.Parallel()
	ev := &countingEvents{}
	srv := appServer(t, sockjs.Options{Events: ev, HeartbeatDelay: 20 * time.Millisecond},
		func(ctx context.Context, s *sockjs.Session) { <-ctx.Done() })
	ctx, cancel := context.WithTimeout(t.Context(), scenarioWait)
	defer cancel()
	p, err := dialSockJSWebSocket(ctx, srv.URL+"/x")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	deadline := time.Now().Add(scenarioWait)
	for ev.get("heartbeat websocket") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d heartbeats reported", ev.get("heartbeat websocket"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Without Events, the message path allocates nothing more than the
// session's own queue does.
func TestEventsUnsetCostsNothing(t *testing.T) {
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		msg := sockjs.NewMessage("x")
		allocs := testing.AllocsPerRun(100, func() { _ = s.SendMessage(msg) })
		if allocs != 0 {
			t.Errorf("SendMessage allocates %v times per call without Events", allocs)
		}
	})
	s := h.Open("s", "xhr", httptest.NewRequest("POST", "/0/s/xhr", nil))
	<-s.Context().Done()
	shutdown(t, h)
}

// shutdown shuts h down, failing the test if it cannot.
func shutdown(t *testing.T, h *sockjs.Handler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioWait)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// A second receiver gets 2010, reported as AnotherConnection.
func TestEventsAnotherConnection(t *testing.T) {
	t.Parallel()
	ev := &countingEvents{}
	srv := appServer(t, sockjs.Options{Events: ev}, func(ctx context.Context, s *sockjs.Session) { <-ctx.Done() })
	base := srv.URL + "/x/0/" + newSID()
	post := func(ctx context.Context, path string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, nil)
		return http.DefaultClient.Do(req)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first, err := post(ctx, "/xhr_streaming") // attached until cancel
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	// The prelude and "o": the first receiver is attached.
	if _, err := io.ReadFull(first.Body, make([]byte, 2049+2)); err != nil {
		t.Fatal(err)
	}
	second, err := post(t.Context(), "/xhr")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(second.Body)
	second.Body.Close()
	if string(b) != "c[2010,\"Another connection still open\"]\n" {
		t.Fatalf("second receiver got %q", b)
	}
	if n := ev.get("2010 xhr"); n != 1 {
		t.Fatalf("AnotherConnection told %d times, want 1", n)
	}
}

// recordHandler keeps the messages of the log records it gets.
type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// Per-session events reach Options.Logger at Debug level.
func TestDebugLogs(t *testing.T) {
	t.Parallel()
	rec := &recordHandler{}
	srv := appServer(t, sockjs.Options{Logger: slog.New(rec)}, func(ctx context.Context, s *sockjs.Session) {
		_ = s.Close(4000, "bye")
	})
	for _, path := range []string{"/x/0/s/xhr", "/x/0/s/xhr"} {
		resp, err := http.Post(srv.URL+path, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/x/0/t/xhr", nil)
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	want := []string{"DEBUG sockjs: session opened", "DEBUG sockjs: session closed", "DEBUG sockjs: origin refused"}
	deadline := time.Now().Add(scenarioWait)
	for {
		rec.mu.Lock()
		got := strings.Join(rec.msgs, "\n")
		rec.mu.Unlock()
		missing := ""
		for _, w := range want {
			if !strings.Contains(got, w) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", missing, got)
		}
		time.Sleep(5 * time.Millisecond) // the close is logged from the session's goroutine
	}
}
