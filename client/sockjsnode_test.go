package client_test

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
)

// startNodePeer starts e2e/peer/testserver.js, sockjs-node 0.3.24 serving
// the same services as examples/testserver, on a free loopback port, and
// returns its base URL. It skips the test only when node or the npm
// packages are missing.
func startNodePeer(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("sockjs-node tests skipped: node is not on PATH (%v); install Node 20 to run them", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "sockjs", "package.json")); err != nil {
		t.Skipf("sockjs-node tests skipped: node_modules/sockjs is missing (%v); run npm ci at the repository root", err)
	}
	cmd := exec.Command(node, "e2e/peer/testserver.js", "-addr", "127.0.0.1:0")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the sockjs-node peer: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		re := regexp.MustCompile(`listening on (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case u := <-addr:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("the sockjs-node peer did not say where it listens within 30s")
	}
	return ""
}

// countingTransport counts requests by the last element of their path,
// and records the Cookie header of each xhr_send.
type countingTransport struct {
	base    http.RoundTripper
	mu      sync.Mutex
	n       map[string]int
	cookies []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	last := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[last]++
	if last == "xhr_send" {
		c.cookies = append(c.cookies, r.Header.Get("Cookie"))
	}
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

func (c *countingTransport) get(last string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[last]
}

// TestSockJSNode runs the scenarios of TestScenarios, rollover and the
// cookie and fallback checks against sockjs-node, on every transport.
func TestSockJSNode(t *testing.T) {
	base := startNodePeer(t)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	peer := &server{URL: base, Client: &http.Client{Transport: tr}}

	for _, name := range allTransports {
		for _, sc := range scenarios {
			t.Run(name+"/"+sc.name, func(t *testing.T) {
				c := dial(t, peer, sc.path, name)
				sc.run(t, c)
			})
		}
	}

	for _, name := range []string{client.XHRStreaming, client.EventSource} {
		t.Run(name+"/rollover", func(t *testing.T) {
			ct := &countingTransport{base: tr}
			c := dial(t, &server{URL: base, Client: &http.Client{Transport: ct}}, "/echo", name)
			for i := range 300 {
				echoAll(t, c, []string{fmt.Sprintf("%04d %s", i, strings.Repeat("r", 100))})
			}
			path := map[string]string{client.XHRStreaming: "xhr_streaming", client.EventSource: "eventsource"}[name]
			if n := ct.get(path); n < 8 {
				t.Fatalf("%d %s requests, want at least 8 (one per response limit)", n, path)
			}
		})
	}

	for _, name := range []string{client.XHRStreaming, client.EventSource, client.XHRPolling} {
		t.Run(name+"/cookie_needed", func(t *testing.T) {
			ct := &countingTransport{base: tr}
			c := dial(t, &server{URL: base, Client: &http.Client{Transport: ct}}, "/cookie_needed_echo", name)
			echoAll(t, c, []string{"a", "b"})
			ct.mu.Lock()
			defer ct.mu.Unlock()
			if len(ct.cookies) == 0 {
				t.Fatal("no xhr_send seen")
			}
			for _, ck := range ct.cookies {
				if !strings.Contains(ck, "JSESSIONID=") {
					t.Fatalf("xhr_send with Cookie %q, want JSESSIONID", ck)
				}
			}
		})
	}

	t.Run("fallback without websocket", func(t *testing.T) {
		ctx := recvCtx(t)
		c, err := client.Dial(ctx, base+"/disabled_websocket_echo", &client.Options{HTTPClient: peer.Client})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(1000, "")
		if c.Transport() != client.XHRStreaming {
			t.Fatalf("Transport() = %q, want xhr-streaming", c.Transport())
		}
		echoAll(t, c, []string{"x"})
	})

	for _, name := range allTransports {
		t.Run(name+"/query", func(t *testing.T) {
			qt := &queryTransport{base: tr}
			c, err := client.Dial(recvCtx(t), base+"/echo?access_token=abc", &client.Options{
				Transports: []string{name}, HTTPClient: &http.Client{Transport: qt}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(1000, "")
			echoAll(t, c, []string{"with a token"})
			qt.mu.Lock()
			defer qt.mu.Unlock()
			for _, r := range qt.seen {
				if !strings.HasSuffix(r, "?access_token=abc") {
					t.Errorf("request to %s without the query", r)
				}
			}
			if len(qt.seen) < 2 && name != client.WebSocket {
				t.Errorf("requests %q, want /info and the transport's", qt.seen)
			}
		})
	}

	for _, tt := range closeBeforeOpenCases {
		t.Run("close before open/"+tt.name, func(t *testing.T) {
			s := startProxy(t, base, tt.mw(func() string { return base }))
			runCloseBeforeOpen(t, s, tt)
		})
	}

	t.Run("transports in the order given", func(t *testing.T) {
		c, err := client.Dial(recvCtx(t), base+"/echo", &client.Options{
			Transports: []string{client.XHRPolling, client.WebSocket}, HTTPClient: peer.Client})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(1000, "")
		if c.Transport() != client.XHRPolling {
			t.Fatalf("Transport() = %q, want xhr-polling, the first given", c.Transport())
		}
		echoAll(t, c, []string{"x"})
	})

	t.Run("websocket close code", func(t *testing.T) {
		// sockjs-node reports a client's websocket close to the app; the
		// session must end cleanly for the client either way.
		c := dial(t, peer, "/echo", client.WebSocket)
		if err := c.Close(3001, "bye"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Recv(recvCtx(t)); !errors.Is(err, client.ErrClosed) {
			t.Fatalf("Recv after Close = %v", err)
		}
	})
}

// queryTransport records the path and query of each request.
type queryTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (q *queryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	q.mu.Lock()
	q.seen = append(q.seen, r.URL.Path+"?"+r.URL.RawQuery)
	q.mu.Unlock()
	return q.base.RoundTrip(r)
}

// startProxy serves a reverse proxy to target behind middleware, for the
// tests that change what a server answers.
func startProxy(t *testing.T, target string, mw func(http.Handler) http.Handler) *server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	ptr := &http.Transport{}
	rp.Transport = ptr
	rp.FlushInterval = -1
	c := &counter{}
	ts := httptest.NewServer(c.wrap(mw(rp)))
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		hc.CloseIdleConnections()
		ptr.CloseIdleConnections()
	})
	return &server{URL: ts.URL, Client: hc, count: c}
}
