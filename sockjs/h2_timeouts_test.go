package sockjs_test

// Receivers under the application's own http.Server timeouts, over HTTP/1.1
// and over HTTP/2 with TLS (what http.Server speaks when Go terminates
// TLS). Each receiving response stays idle past the timeout, then must
// still carry a heartbeat and a late message.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/sockjs"
)

// timeoutLimit is the timeout under test; timeoutHeartbeat, the heartbeat
// delay, is longer, so a response waiting for its heartbeat is idle past
// the timeout. (The server's timeouts bound TLS handshakes too, which a
// loaded machine running the race detector may take a second over.)
const (
	timeoutLimit     = 2 * time.Second
	timeoutHeartbeat = 3 * time.Second
)

// timeoutConfig is one deployment: HTTP version and which timeout is short.
type timeoutConfig struct {
	name  string
	h2    bool
	setup func(*http.Server, *sockjs.Options)
}

var timeoutConfigs = []timeoutConfig{
	{"h2/Server.WriteTimeout", true, func(s *http.Server, _ *sockjs.Options) { s.WriteTimeout = timeoutLimit }},
	{"h2/Options.WriteTimeout", true, func(_ *http.Server, o *sockjs.Options) { o.WriteTimeout = timeoutLimit }},
	{"h1/Server.WriteTimeout", false, func(s *http.Server, o *sockjs.Options) {
		s.WriteTimeout, o.WriteTimeout = timeoutLimit, timeoutLimit
	}},
	{"h1/Server.ReadTimeout", false, func(s *http.Server, _ *sockjs.Options) {
		s.ReadTimeout, s.ReadHeaderTimeout = timeoutLimit, timeoutLimit
	}},
	{"h2/Server.ReadTimeout", true, func(s *http.Server, _ *sockjs.Options) {
		s.ReadTimeout, s.ReadHeaderTimeout = timeoutLimit, timeoutLimit
	}},
}

// sessionsByID hands the test the server side of the sessions it opened.
type sessionsByID struct {
	mu sync.Mutex
	m  map[string]chan *sockjs.Session
}

func (b *sessionsByID) ch(id string) chan *sockjs.Session {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[string]chan *sockjs.Session)
	}
	if b.m[id] == nil {
		b.m[id] = make(chan *sockjs.Session, 1)
	}
	return b.m[id]
}

// get waits for the session of the session URL u.
func (b *sessionsByID) get(u string) (*sockjs.Session, error) {
	select {
	case s := <-b.ch(u[strings.LastIndexByte(u, '/')+1:]):
		return s, nil
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("no session for %s", u)
	}
}

// timeoutServer serves /x with cfg applied, over TLS and HTTP/2 when cfg.h2.
func timeoutServer(t *testing.T, cfg timeoutConfig) (*httptest.Server, *sessionsByID) {
	t.Helper()
	sessions := &sessionsByID{}
	o := sockjs.Options{HeartbeatDelay: timeoutHeartbeat, DisconnectDelay: 30 * time.Second, AllowJSONP: true}
	srv := httptest.NewUnstartedServer(nil)
	cfg.setup(srv.Config, &o)
	h := sockjs.NewHandler(o, func(ctx context.Context, s *sockjs.Session) {
		sessions.ch(s.ID()) <- s
		for {
			if _, err := s.Recv(ctx); err != nil {
				return
			}
		}
	})
	srv.Config.Handler = http.StripPrefix("/x", h)
	if cfg.h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return srv, sessions
}

// protoClient is srv's client, checking that every response comes over
// the HTTP version the test means.
func protoClient(t *testing.T, srv *httptest.Server, h2 bool) *http.Client {
	c := *srv.Client()
	c.Transport = protoCheck{t: t, rt: c.Transport, major: map[bool]int{true: 2, false: 1}[h2]}
	return &c
}

type protoCheck struct {
	t     *testing.T
	rt    http.RoundTripper
	major int
}

func (p protoCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.rt.RoundTrip(r)
	if err == nil && resp.ProtoMajor != p.major {
		p.t.Errorf("%s %s came over %s, want HTTP/%d", r.Method, r.URL.Path, resp.Proto, p.major)
	}
	return resp, err
}

// frameWaiter collects the frames of one receiving request run in the
// background, and the error it ended with.
type frameWaiter struct {
	frames chan string
	ended  chan error
}

// startRecv starts one receiving request.
func startRecv(ctx context.Context, recv recvFunc, c *http.Client, url string) *frameWaiter {
	fw := &frameWaiter{frames: make(chan string, 64), ended: make(chan error, 1)}
	go func() {
		fw.ended <- recv(ctx, c, url, func(f string) error {
			fw.frames <- f
			return nil
		})
	}()
	return fw
}

// next waits for the next frame; a response that ends first is an error.
func (fw *frameWaiter) next(what string) (string, error) {
	select {
	case f := <-fw.frames:
		return f, nil
	case err := <-fw.ended:
		fw.ended <- err // for the next call
		select {
		case f := <-fw.frames: // sent before the request ended
			return f, nil
		default:
		}
		return "", fmt.Errorf("waiting for %s: the response ended: %v", what, err)
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("no %s within 10s", what)
	}
}

// expect waits for the next frame, which must be want.
func (fw *frameWaiter) expect(want string) error {
	f, err := fw.next(want)
	if err == nil && f != want {
		err = fmt.Errorf("got frame %q, want %q", abbrev(f), want)
	}
	return err
}

// await skips heartbeats until want.
func (fw *frameWaiter) await(want string) error {
	for {
		f, err := fw.next(want)
		if err != nil || f == want {
			return err
		}
		if f != "h" {
			return fmt.Errorf("got frame %q, want %q", abbrev(f), want)
		}
	}
}

// idleCheck is one receiving transport's check: open a session, stay idle
// past the timeout until a heartbeat comes, stay idle past it again, then
// get a late message, all on one response (one per frame when polling).
type idleCheck func(ctx context.Context, c *http.Client, base string, sessions *sessionsByID) error

func streamingIdleCheck(recv recvFunc) idleCheck {
	return func(ctx context.Context, c *http.Client, base string, sessions *sessionsByID) error {
		url := peerSessionURL(base)
		fw := startRecv(ctx, recv, c, url)
		if err := fw.expect("o"); err != nil {
			return err
		}
		s, err := sessions.get(url)
		if err != nil {
			return err
		}
		if err := fw.expect("h"); err != nil {
			return err
		}
		time.Sleep(timeoutLimit + timeoutLimit/2) // idle again, past the timeout
		if err := s.Send("late"); err != nil {
			return err
		}
		return fw.await(`a["late"]`)
	}
}

func pollingIdleCheck(recv recvFunc) idleCheck {
	return func(ctx context.Context, c *http.Client, base string, sessions *sessionsByID) error {
		url := peerSessionURL(base)
		if err := startRecv(ctx, recv, c, url).expect("o"); err != nil {
			return err
		}
		s, err := sessions.get(url)
		if err != nil {
			return err
		}
		// This poll waits a heartbeat delay for its frame.
		if err := startRecv(ctx, recv, c, url).expect("h"); err != nil {
			return err
		}
		fw := startRecv(ctx, recv, c, url)
		time.Sleep(timeoutLimit + timeoutLimit/2) // the poll waits past the timeout
		if err := s.Send("late"); err != nil {
			return err
		}
		// A busy machine may let the next heartbeat win: poll again then.
		for range 3 {
			f, err := fw.next(`a["late"]`)
			if err != nil || f == `a["late"]` {
				return err
			}
			if f != "h" {
				return fmt.Errorf("got frame %q, want the late message", abbrev(f))
			}
			fw = startRecv(ctx, recv, c, url)
		}
		return fmt.Errorf("only heartbeats, no late message")
	}
}

// TestReceiversOutliveServerTimeouts: every receiving transport, idle past
// the server's WriteTimeout or ReadTimeout (or the handler's own
// WriteTimeout), still delivers a heartbeat and then a late message on the
// same response. Over HTTP/2 a write deadline left set resets the stream
// when it passes, even with nothing being written. Every check runs at
// once (each mostly waits), so the test takes a few seconds.
func TestReceiversOutliveServerTimeouts(t *testing.T) {
	t.Parallel()
	checks := []struct {
		name  string
		check idleCheck
	}{
		{"xhr_streaming", streamingIdleCheck(xhrStreamingRecv)},
		{"eventsource", streamingIdleCheck(eventSourceRecv)},
		{"htmlfile", streamingIdleCheck(htmlfileRecv)},
		{"xhr", pollingIdleCheck(xhrPollingRecv)},
		{"jsonp", pollingIdleCheck(jsonpRecv)},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, cfg := range timeoutConfigs {
		srv, sessions := timeoutServer(t, cfg)
		c := protoClient(t, srv, cfg.h2)
		// One request first, so that the HTTP/2 checks share one connection
		// rather than each racing its own TLS handshake.
		resp, err := c.Get(srv.URL + "/x/info")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, ch := range checks {
			wg.Go(func() {
				if err := ch.check(ctx, c, srv.URL+"/x", sessions); err != nil {
					t.Errorf("%s, %s: %v", cfg.name, ch.name, err)
				}
			})
		}
		wg.Go(func() {
			if err := webSocketIdleCheck(srv, sessions); err != nil {
				t.Errorf("%s, websocket: %v", cfg.name, err)
			}
		})
	}
	wg.Wait()
}

// webSocketIdleCheck: a websocket (always HTTP/1.1: the server does not
// offer WebSockets over HTTP/2) hijacks its connection, which must not
// keep the deadlines the server set for reading and writing requests.
func webSocketIdleCheck(srv *httptest.Server, sessions *sessionsByID) error {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if srv.TLS != nil {
		roots := x509.NewCertPool()
		roots.AddCert(srv.Certificate())
		d.TLSClientConfig = &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}}
	}
	sessURL := peerSessionURL(srv.URL + "/x")
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(sessURL, "http")+"/websocket", nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	read := func() (string, error) {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, p, err := conn.ReadMessage()
		return string(p), err
	}
	if f, err := read(); f != "o" {
		return fmt.Errorf("open frame: %q, %v", f, err)
	}
	s, err := sessions.get(sessURL)
	if err != nil {
		return err
	}
	if f, err := read(); f != "h" {
		return fmt.Errorf("heartbeat: %q, %v", f, err)
	}
	time.Sleep(timeoutLimit + timeoutLimit/2)
	if err := s.Send("late"); err != nil {
		return err
	}
	for {
		f, err := read()
		if err != nil {
			return fmt.Errorf("late message: %v", err)
		}
		if f == `a["late"]` {
			break
		}
		if f != "h" {
			return fmt.Errorf("got %q, want the late message", f)
		}
	}
	// And the client can still send.
	return conn.WriteMessage(websocket.TextMessage, []byte(`["hi"]`))
}
