package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/examples/testserver/services"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, ignoreServices)
}

// ignoreServices skips the goroutine of the testserver's /stomp service:
// its in-memory bus lives as long as the process (services.Stomp), one per
// services.New, and the services' shutdown does not stop it.
var ignoreServices = goleak.IgnoreTopFunction("github.com/sockline/sockline/pubsub.(*Memory).deliver")

// allTransports is every transport the client has, in sockjs-client's order.
var allTransports = []string{client.WebSocket, client.XHRStreaming, client.EventSource, client.XHRPolling}

// counter counts requests by their last path element (xhr_send,
// xhr_streaming, websocket, info...) and the most xhr_send requests seen
// in flight at once.
type counter struct {
	mu       sync.Mutex
	n        map[string]int
	inflight atomic.Int32
	maxSend  atomic.Int32
	headers  []http.Header
	paths    []string
}

func (c *counter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		c.mu.Lock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[last]++
		c.headers = append(c.headers, r.Header.Clone())
		c.paths = append(c.paths, r.URL.Path)
		c.mu.Unlock()
		if last == "xhr_send" {
			n := c.inflight.Add(1)
			defer c.inflight.Add(-1)
			for {
				m := c.maxSend.Load()
				if n <= m || c.maxSend.CompareAndSwap(m, n) {
					break
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (c *counter) get(last string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[last]
}

// server is the Go testserver's services on an httptest server.
type server struct {
	URL string
	// Client talks to it (TLS servers need its certificate); its idle
	// connections are closed at cleanup, for the leak check.
	Client *http.Client
	count  *counter
}

// startServer serves the testserver services, over TLS with HTTP/2 when
// tls is set, with a short heartbeat delay so that heartbeat tests run fast.
func startServer(t *testing.T, tls bool, cfg services.Config) *server {
	t.Helper()
	mux, shutdown := services.New(cfg)
	c := &counter{}
	ts := httptest.NewUnstartedServer(c.wrap(mux))
	if tls {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	hc := ts.Client()
	if !tls {
		hc = &http.Client{Transport: &http.Transport{}}
	}
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

// dial opens path on s with one transport, failing the test on error.
func dial(t *testing.T, s *server, path, transport string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.URL+path, &client.Options{Transports: []string{transport}, HTTPClient: s.Client})
	if err != nil {
		t.Fatalf("Dial %s over %s: %v", path, transport, err)
	}
	if got := c.Transport(); got != transport {
		t.Fatalf("Transport() = %q, want %q", got, transport)
	}
	t.Cleanup(func() { _ = c.Close(1000, "test over") })
	return c
}

// recvCtx is a context for one test's Recv calls.
func recvCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// unicodeMessages returns every scalar value of the Basic Multilingual
// Plane (surrogates excepted) and a sample of every astral plane (first
// and last 64 code points and every 997th), in messages of 4096 code
// points: the same coverage as the protocol suite's unicode tests.
func unicodeMessages() []string {
	var rs []rune
	for r := rune(0); r <= 0xffff; r++ {
		if r < 0xd800 || r > 0xdfff {
			rs = append(rs, r)
		}
	}
	for plane := rune(1); plane <= 16; plane++ {
		lo, hi := plane<<16, plane<<16|0xffff
		for r := lo; r <= hi; r++ {
			if r-lo < 64 || hi-r < 64 || (r-lo)%997 == 0 {
				rs = append(rs, r)
			}
		}
	}
	var msgs []string
	for i := 0; i < len(rs); i += 4096 {
		msgs = append(msgs, string(rs[i:min(i+4096, len(rs))]))
	}
	return msgs
}
