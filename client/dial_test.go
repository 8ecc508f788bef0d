package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/examples/testserver/services"
)

// startWrapped serves the testserver services behind middleware.
func startWrapped(t *testing.T, cfg services.Config, mw func(http.Handler) http.Handler) *server {
	t.Helper()
	mux, shutdown := services.New(cfg)
	c := &counter{}
	ts := httptest.NewServer(c.wrap(mw(mux)))
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(ctx)
		ts.CloseClientConnections()
		ts.Close()
		hc.CloseIdleConnections()
	})
	return &server{URL: ts.URL, Client: hc, count: c}
}

func lastElem(r *http.Request) string { return r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:] }

// TestFallback checks that with Transports nil the client tries
// sockjs-client's order and moves on when a transport cannot open.
func TestFallback(t *testing.T) {
	blockUpgrade := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") != "" { // a proxy that drops websockets
				http.Error(w, "no upgrades here", http.StatusBadRequest)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	hang := func(names ...string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, n := range names {
					if lastElem(r) == n { // a proxy that buffers the stream
						<-r.Context().Done()
						return
					}
				}
				h.ServeHTTP(w, r)
			})
		}
	}
	notFound := func(names ...string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, n := range names {
					if lastElem(r) == n {
						http.NotFound(w, r)
						return
					}
				}
				h.ServeHTTP(w, r)
			})
		}
	}
	none := func(h http.Handler) http.Handler { return h }
	tests := []struct {
		name     string
		path     string
		mw       func(http.Handler) http.Handler
		want     string   // transport chosen
		tried    []string // requests that must have happened
		notTried []string // requests that must not have happened
	}{
		{"all well", "/echo", none, client.WebSocket, nil, []string{"xhr_streaming"}},
		{"websocket off in /info", "/disabled_websocket_echo", none, client.XHRStreaming, nil, []string{"websocket"}},
		{"upgrade blocked", "/echo", blockUpgrade, client.XHRStreaming, []string{"websocket"}, nil},
		{"streaming buffered", "/echo", func(h http.Handler) http.Handler { return blockUpgrade(hang("xhr_streaming")(h)) },
			client.EventSource, []string{"websocket", "xhr_streaming"}, nil},
		{"only polling", "/echo", func(h http.Handler) http.Handler {
			return blockUpgrade(notFound("xhr_streaming", "eventsource")(h))
		}, client.XHRPolling, []string{"websocket", "xhr_streaming", "eventsource"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startWrapped(t, services.Config{}, tt.mw)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, s.URL+tt.path, &client.Options{HTTPClient: s.Client, OpenTimeout: 2 * time.Second})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close(1000, "")
			if c.Transport() != tt.want {
				t.Fatalf("Transport() = %q, want %q", c.Transport(), tt.want)
			}
			echoAll(t, c, []string{"after fallback"})
			for _, p := range tt.tried {
				if s.count.get(p) == 0 {
					t.Errorf("no %s request; the fallback skipped it", p)
				}
			}
			for _, p := range tt.notTried {
				if n := s.count.get(p); n != 0 {
					t.Errorf("%d %s requests, want none", n, p)
				}
			}
		})
	}
}

// TestDialErrors checks the typed errors of a failed Dial.
func TestDialErrors(t *testing.T) {
	s := startWrapped(t, services.Config{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.HasPrefix(r.URL.Path, "/nothing"):
				http.NotFound(w, r)
			case strings.HasPrefix(r.URL.Path, "/hang") && lastElem(r) != "info":
				<-r.Context().Done()
			case strings.HasPrefix(r.URL.Path, "/hang"):
				r.URL.Path = "/echo/info"
				h.ServeHTTP(w, r)
			case strings.HasPrefix(r.URL.Path, "/broken") && lastElem(r) != "info":
				http.Error(w, "down", http.StatusBadGateway)
			case strings.HasPrefix(r.URL.Path, "/broken"):
				r.URL.Path = "/echo/info"
				h.ServeHTTP(w, r)
			default:
				h.ServeHTTP(w, r)
			}
		})
	})
	var ce *client.CloseError
	ctx := recvCtx(t)
	// a short open timeout only where one is expected (/hang); elsewhere
	// a wide one, so that a stalled goroutine does not turn the error
	// checked into a timeout
	optsTimeout := func(timeout time.Duration, tr ...string) *client.Options {
		return &client.Options{Transports: tr, HTTPClient: s.Client, OpenTimeout: timeout}
	}
	opts := func(tr ...string) *client.Options { return optsTimeout(5*time.Second, tr...) }

	_, err := client.Dial(ctx, s.URL+"/nothing", opts())
	if !errors.As(err, &ce) || ce.Code != 1002 || !errors.Is(err, client.ErrTransport) {
		t.Errorf("no /info: %v, want CloseError 1002 ErrTransport", err)
	}
	_, err = client.Dial(ctx, s.URL+"/hang", optsTimeout(300*time.Millisecond, client.XHRStreaming))
	if !errors.As(err, &ce) || ce.Code != 2000 || !errors.Is(err, client.ErrTimeout) {
		t.Errorf("hanging stream: %v, want CloseError 2000 ErrTimeout", err)
	}
	_, err = client.Dial(ctx, s.URL+"/broken", opts())
	if !errors.As(err, &ce) || ce.Code != 2000 || !errors.Is(err, client.ErrTransport) || errors.Is(err, client.ErrTimeout) {
		t.Errorf("502 everywhere: %v, want CloseError 2000 ErrTransport", err)
	}
	if _, err = client.Dial(ctx, s.URL+"/echo", opts("htmlfile")); err == nil || !strings.Contains(err.Error(), "unknown transport") {
		t.Errorf("unknown transport: %v", err)
	}
	if _, err = client.Dial(ctx, "ws://"+strings.TrimPrefix(s.URL, "http://")+"/echo", nil); err == nil {
		t.Error("ws:// URL accepted; sockjs-client wants http or https")
	}
	_, err = client.Dial(ctx, s.URL+"/disabled_websocket_echo", opts(client.WebSocket))
	if !errors.As(err, &ce) || ce.Code != 2000 {
		t.Errorf("websocket only, server without: %v, want CloseError 2000", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err = client.Dial(cctx, s.URL+"/echo", opts()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
}

// TestIDsAndHeaders checks the session URLs (3-digit server id, 8-char
// session id from sockjs-client's alphabet), that custom headers reach
// every request, and that the caller's Dialer is used.
func TestIDsAndHeaders(t *testing.T) {
	var dials atomic.Int32
	for _, tr := range allTransports {
		t.Run(tr, func(t *testing.T) {
			s := startWrapped(t, services.Config{}, func(h http.Handler) http.Handler { return h })
			d := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}
			ctx := recvCtx(t)
			c, err := client.Dial(ctx, s.URL+"/echo/", &client.Options{
				Transports: []string{tr}, HTTPClient: s.Client, Dialer: d,
				Header: http.Header{"X-Sockline-Test": {"yes"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(1000, "")
			echoAll(t, c, []string{"a", "b"})
			s.count.mu.Lock()
			defer s.count.mu.Unlock()
			re := regexp.MustCompile(`^/echo/[0-9]{3}/[a-z0-5]{8}/(websocket|xhr_streaming|xhr_send|xhr|eventsource)$`)
			for i, p := range s.count.paths {
				if p != "/echo/info" && !re.MatchString(p) {
					t.Errorf("request to %q: not /echo/info nor a session URL like sockjs-client's", p)
				}
				if s.count.headers[i].Get("X-Sockline-Test") != "yes" {
					t.Errorf("request to %q without the custom header", p)
				}
			}
		})
	}
	if dials.Load() == 0 {
		t.Error("the websocket never went through Options.Dialer")
	}
}

// TestCookieNeeded checks that the JSESSIONID cookie set by a server whose
// /info says cookie_needed comes back on every later request.
func TestCookieNeeded(t *testing.T) {
	for _, tr := range []string{client.XHRStreaming, client.EventSource, client.XHRPolling} {
		t.Run(tr, func(t *testing.T) {
			s := startWrapped(t, services.Config{}, func(h http.Handler) http.Handler { return h })
			c := dial(t, s, "/cookie_needed_echo", tr)
			echoAll(t, c, []string{"a", "b", "c"})
			s.count.mu.Lock()
			defer s.count.mu.Unlock()
			sends := 0
			for i, p := range s.count.paths {
				if strings.HasSuffix(p, "/xhr_send") {
					sends++
					if !strings.Contains(s.count.headers[i].Get("Cookie"), "JSESSIONID=") {
						t.Errorf("xhr_send without JSESSIONID: Cookie %q", s.count.headers[i].Get("Cookie"))
					}
				}
			}
			if sends == 0 {
				t.Fatal("no xhr_send seen")
			}
		})
	}
}

// TestTransportsOrder checks that Options.Transports are tried in the
// order given, not in sockjs-client's.
func TestTransportsOrder(t *testing.T) {
	notFound := func(name string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if lastElem(r) == name {
					http.NotFound(w, r)
					return
				}
				h.ServeHTTP(w, r)
			})
		}
	}
	none := func(h http.Handler) http.Handler { return h }
	tests := []struct {
		name       string
		path       string
		mw         func(http.Handler) http.Handler
		transports []string
		want       string
		notTried   []string
	}{
		{"polling before websocket", "/echo", none, []string{client.XHRPolling, client.WebSocket}, client.XHRPolling, []string{"websocket"}},
		{"eventsource before streaming", "/echo", none, []string{client.EventSource, client.XHRStreaming}, client.EventSource, []string{"xhr_streaming"}},
		{"repeated names tried once", "/echo", notFound("xhr"), []string{client.XHRPolling, client.XHRPolling, client.EventSource},
			client.EventSource, nil},
		{"fallback in the order given", "/echo", notFound("xhr"), []string{client.XHRPolling, client.EventSource, client.WebSocket},
			client.EventSource, []string{"websocket"}},
		{"websocket off, next given", "/disabled_websocket_echo", none, []string{client.WebSocket, client.XHRPolling, client.XHRStreaming},
			client.XHRPolling, []string{"websocket", "xhr_streaming"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startWrapped(t, services.Config{}, tt.mw)
			c, err := client.Dial(recvCtx(t), s.URL+tt.path, &client.Options{Transports: tt.transports, HTTPClient: s.Client})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close(1000, "")
			if c.Transport() != tt.want {
				t.Fatalf("Transports %q: Transport() = %q, want %q", tt.transports, c.Transport(), tt.want)
			}
			echoAll(t, c, []string{"in order"})
			for _, p := range tt.notTried {
				if n := s.count.get(p); n != 0 {
					t.Errorf("%d %s requests, want none", n, p)
				}
			}
			if n := s.count.get("xhr"); tt.name == "repeated names tried once" && n != 1 {
				t.Errorf("%d xhr requests, want 1: a repeated name is tried again", n)
			}
		})
	}
}

// TestQueryKept checks that the query of the endpoint URL reaches every
// request, as sockjs-client keeps it (urlUtils.addPath): /info, the
// websocket handshake, streams, polls and sends, behind a server that
// refuses requests without the token.
func TestQueryKept(t *testing.T) {
	tests := []struct {
		url   string // after the server's address
		query string // the RawQuery every request must carry
	}{
		{"/echo?access_token=abc", "access_token=abc"},
		{"/echo/?access_token=a%2Fb+c&x=1&x=2", "access_token=a%2Fb+c&x=1&x=2"},
	}
	for _, tt := range tests {
		for _, tr := range allTransports {
			t.Run(tr+tt.url, func(t *testing.T) {
				var mu sync.Mutex
				var seen []string
				s := startWrapped(t, services.Config{}, func(h http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						mu.Lock()
						seen = append(seen, lastElem(r)+"?"+r.URL.RawQuery)
						mu.Unlock()
						if r.URL.RawQuery != tt.query {
							http.Error(w, "access_token missing", http.StatusUnauthorized)
							return
						}
						h.ServeHTTP(w, r)
					})
				})
				c, err := client.Dial(recvCtx(t), s.URL+tt.url, &client.Options{Transports: []string{tr}, HTTPClient: s.Client})
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.Close(1000, "")
				echoAll(t, c, []string{"with a token"})
				mu.Lock()
				defer mu.Unlock()
				want := map[string]bool{"info": false, "xhr_send": tr == client.WebSocket}
				want[map[string]string{client.WebSocket: "websocket", client.XHRStreaming: "xhr_streaming",
					client.EventSource: "eventsource", client.XHRPolling: "xhr"}[tr]] = false
				for _, r := range seen {
					last, q, _ := strings.Cut(r, "?")
					if q != tt.query {
						t.Errorf("%s request with query %q, want %q", last, q, tt.query)
					}
					if _, ok := want[last]; ok {
						want[last] = true
					}
				}
				for last, ok := range want {
					if !ok {
						t.Errorf("no %s request seen (requests: %q)", last, seen)
					}
				}
			})
		}
	}
	t.Run("not in errors", func(t *testing.T) {
		// The query may hold a token: errors, which get logged, leave it out.
		s := startWrapped(t, services.Config{}, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if lastElem(r) != "info" {
					http.Error(w, "down", http.StatusBadGateway)
					return
				}
				h.ServeHTTP(w, r)
			})
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		refused := "http://" + ln.Addr().String()
		ln.Close()
		for _, u := range []string{s.URL, refused} {
			_, err := client.Dial(recvCtx(t), u+"/echo?access_token=secret", &client.Options{HTTPClient: s.Client})
			if err == nil || strings.Contains(err.Error(), "secret") {
				t.Errorf("Dial %s: %v, want an error without the token", u, err)
			}
		}
	})
}

// stealSession makes the first request to the receiving URL named last
// (such as "xhr_streaming") meet a session another client already opened:
// before passing it on, it opens the same session URL itself on base() and
// reads until the open frame, then holds that request open (the server
// then answers 2010 "Another connection still open") or, with drain, reads
// to the end (a session that closed at once, such as /close, then answers
// with its close frame).
func stealSession(base func() string, last string, drain bool) func(http.Handler) http.Handler {
	var once atomic.Bool
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if lastElem(r) != last || !once.CompareAndSwap(false, true) {
				h.ServeHTTP(w, r)
				return
			}
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel() // after the client's request: the thief lets go
			req, _ := http.NewRequestWithContext(ctx, r.Method, base()+r.URL.RequestURI(), nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				http.Error(w, "thief: "+err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() && sc.Text() != "o" {
			}
			if drain {
				for sc.Scan() {
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

// answerClose answers the receiving requests named last with a close frame
// of code, in that transport's framing.
func answerClose(last string, code int) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if lastElem(r) != last {
				h.ServeHTTP(w, r)
				return
			}
			if last == "websocket" {
				up := websocket.Upgrader{}
				c, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer c.Close()
				_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`c[%d,"Test close"]`, code)))
				_, _, _ = c.ReadMessage() // until the client goes
				return
			}
			frame := fmt.Sprintf(`c[%d,"Test close"]`, code)
			switch last {
			case "eventsource":
				w.Header().Set("Content-Type", "text/event-stream; charset=UTF-8")
				fmt.Fprintf(w, "\r\ndata: %s\r\n\r\n", frame)
			case "xhr_streaming":
				w.Header().Set("Content-Type", "application/javascript; charset=UTF-8")
				fmt.Fprintf(w, "%s\n%s\n", strings.Repeat("h", 2048), frame)
			default:
				w.Header().Set("Content-Type", "application/javascript; charset=UTF-8")
				fmt.Fprintf(w, "%s\n", frame)
			}
		})
	}
}

// closeBeforeOpenCases are the servers of TestCloseBeforeOpen: each
// answers the first transport's receiving request with a close frame
// instead of the open frame.
type closeBeforeOpenCase struct {
	name       string
	path       string
	mw         func(base func() string) func(http.Handler) http.Handler
	transports []string
	want       string // transport chosen; "" when Dial must fail
	wantCode   int    // of Dial's CloseError when it fails
}

var closeBeforeOpenCases = []closeBeforeOpenCase{
	{"2010 another connection", "/echo", func(b func() string) func(http.Handler) http.Handler {
		return stealSession(b, "xhr_streaming", false)
	}, []string{client.XHRStreaming, client.EventSource}, client.EventSource, 0},
	{"3000 session closed", "/close", func(b func() string) func(http.Handler) http.Handler {
		return stealSession(b, "xhr_streaming", true)
	}, []string{client.XHRStreaming, client.EventSource}, "", 3000},
}

// TestCloseBeforeOpen checks that a close frame instead of the open frame
// makes Dial try the next transport when its code is not one an
// application closes with (1000, 2000, 3000-4999), and ends Dial with it
// otherwise.
func TestCloseBeforeOpen(t *testing.T) {
	tests := append(closeBeforeOpenCases, []closeBeforeOpenCase{
		{"1002 xhr-streaming", "/echo", func(func() string) func(http.Handler) http.Handler { return answerClose("xhr_streaming", 1002) },
			[]string{client.XHRStreaming, client.XHRPolling}, client.XHRPolling, 0},
		{"1002 websocket", "/echo", func(func() string) func(http.Handler) http.Handler { return answerClose("websocket", 1002) },
			nil, client.XHRStreaming, 0},
		{"2010 xhr-polling", "/echo", func(func() string) func(http.Handler) http.Handler { return answerClose("xhr", 2010) },
			[]string{client.XHRPolling, client.EventSource}, client.EventSource, 0},
		{"1011 eventsource", "/echo", func(func() string) func(http.Handler) http.Handler { return answerClose("eventsource", 1011) },
			[]string{client.EventSource, client.XHRPolling}, client.XHRPolling, 0},
		{"1000", "/echo", func(func() string) func(http.Handler) http.Handler { return answerClose("xhr_streaming", 1000) },
			[]string{client.XHRStreaming, client.EventSource}, "", 1000},
		{"2000", "/echo", func(func() string) func(http.Handler) http.Handler { return answerClose("xhr_streaming", 2000) },
			[]string{client.XHRStreaming, client.EventSource}, "", 2000},
		{"4999 websocket", "/echo", func(func() string) func(http.Handler) http.Handler { return answerClose("websocket", 4999) },
			nil, "", 4999},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *server
			s = startWrapped(t, services.Config{}, tt.mw(func() string { return s.URL }))
			runCloseBeforeOpen(t, s, tt)
		})
	}
}

func runCloseBeforeOpen(t *testing.T, s *server, tt closeBeforeOpenCase) {
	t.Helper()
	c, err := client.Dial(recvCtx(t), s.URL+tt.path, &client.Options{Transports: tt.transports, HTTPClient: s.Client})
	if tt.want == "" {
		var ce *client.CloseError
		if !errors.As(err, &ce) || ce.Code != tt.wantCode || !errors.Is(err, client.ErrServerClosed) {
			t.Fatalf("Dial = %v, want the server's CloseError %d", err, tt.wantCode)
		}
		if c != nil {
			t.Fatal("Dial returned a Conn with its error")
		}
		return
	}
	if err != nil {
		t.Fatalf("Dial: %v; want it to go on with %s", err, tt.want)
	}
	defer c.Close(1000, "")
	if c.Transport() != tt.want {
		t.Fatalf("Transport() = %q, want %q", c.Transport(), tt.want)
	}
	echoAll(t, c, []string{"after a close before open"})
}

// TestInfoTimeout checks that /info has a timeout of its own: Dial with a
// context that never ends returns against a server that never answers.
func TestInfoTimeout(t *testing.T) {
	silentTCP := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c) // held, never read nor written
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			<-done
			for _, c := range conns {
				c.Close()
			}
		})
		return "http://" + ln.Addr().String()
	}
	silentHTTP := func(headers bool) func(t *testing.T) string {
		return func(t *testing.T) string {
			stop := make(chan struct{})
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if headers {
					w.Header().Set("Content-Type", "application/json; charset=UTF-8")
					w.WriteHeader(http.StatusOK)
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done():
				case <-stop:
				}
			}))
			t.Cleanup(func() { close(stop); ts.CloseClientConnections(); ts.Close() })
			return ts.URL
		}
	}
	tests := []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"accepts and never answers", silentTCP},
		{"reads and never answers", silentHTTP(false)},
		{"headers and no body", silentHTTP(true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.start(t)
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			type result struct {
				c   *client.Conn
				err error
			}
			res := make(chan result, 1)
			go func() {
				c, err := client.Dial(context.Background(), u+"/echo", &client.Options{
					HTTPClient: &http.Client{Transport: tr}, InfoTimeout: 200 * time.Millisecond})
				res <- result{c, err}
			}()
			var r result
			select {
			case r = <-res:
			case <-time.After(30 * time.Second):
				t.Fatal("Dial still waiting for /info after 30s: /info has no timeout")
			}
			var ce *client.CloseError
			if !errors.As(r.err, &ce) || ce.Code != 1002 || !errors.Is(r.err, client.ErrTimeout) || !strings.Contains(r.err.Error(), "InfoTimeout") {
				t.Fatalf("Dial = %v, want a CloseError 1002 ErrTimeout naming InfoTimeout", r.err)
			}
		})
	}
}
