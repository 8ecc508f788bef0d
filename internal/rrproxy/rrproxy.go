// Package rrproxy is a test load balancer that sends every HTTP request to
// the next backend in turn: the worst case for SockJS's HTTP transports,
// whose sessions span many requests, and what a cluster must survive without
// sticky sessions. Websocket upgrades are proxied too (to the backend whose
// turn it is). Responses are flushed at once, as a proxy with buffering off
// does, so streaming transports stream through it.
package rrproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Proxy is a round-robin reverse proxy on 127.0.0.1.
type Proxy struct {
	*httptest.Server

	next     atomic.Uint64
	backends []*httputil.ReverseProxy
	urls     []string
	counts   []atomic.Int64
	down     []atomic.Bool // set by CheckHealth
}

// Start starts a proxy in front of backends (base URLs such as
// "http://127.0.0.1:8081") and closes it when t ends.
func Start(t testing.TB, backends ...string) *Proxy {
	t.Helper()
	if len(backends) == 0 {
		t.Fatal("rrproxy: no backends")
	}
	p := &Proxy{counts: make([]atomic.Int64, len(backends)), down: make([]atomic.Bool, len(backends)), urls: backends}
	for _, b := range backends {
		u, err := url.Parse(b)
		if err != nil {
			t.Fatalf("rrproxy: backend %q: %v", b, err)
		}
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.FlushInterval = -1 // flush every write: streaming must stream
		rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			if a, ok := r.Context().Value(attemptKey{}).(*attempt); ok && a.unsent(err) {
				a.retry = true // nothing was sent: serve tries the next backend
				return
			}
			http.Error(w, "rrproxy: backend unavailable: "+err.Error(), http.StatusBadGateway)
		}
		p.backends = append(p.backends, rp)
	}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

// attemptKey marks a request's context with its attempt at one backend.
type attemptKey struct{}

// attempt is what the error handler learns of one try at a backend.
type attempt struct {
	client  context.Context // the client's request: still wanted?
	gotConn atomic.Bool     // the transport had a connection for it
	retry   bool            // nothing was sent: try the next backend
}

// unsent tells whether the request failed with err before any of it could
// reach the backend, while its client still waits: the backend refused the
// connection, or no connection was had at all (a dial that failed
// otherwise: reset, out of ports). Such a request can go to another
// backend as it is.
func (a *attempt) unsent(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || !a.gotConn.Load() && a.client.Err() == nil
}

// maxReplayBody bounds the request bodies kept to replay on another backend.
const maxReplayBody = 4 << 20

// serve sends r to the next backend; one that refuses the connection (it is
// down, or restarting), or to which no connection could be had, is skipped
// for the one after it, as nginx's proxy_next_upstream error and HAProxy's
// redispatch do: nothing reached it, so the request can go elsewhere.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxReplayBody))
		if err != nil {
			http.Error(w, "rrproxy: reading the request: "+err.Error(), http.StatusBadGateway)
			return
		}
		body = b
	}
	start := p.next.Add(1) - 1
	n := uint64(len(p.backends))
	allDown := true
	for i := range p.down {
		allDown = allDown && p.down[i].Load()
	}
	for try := range n {
		i := int((start + try) % n)
		if p.down[i].Load() && !allDown {
			continue // marked down by its health check
		}
		p.counts[i].Add(1)
		a := &attempt{client: r.Context()}
		ctx := httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { a.gotConn.Store(true) }})
		rr := r.Clone(context.WithValue(ctx, attemptKey{}, a))
		rr.Body = io.NopCloser(bytes.NewReader(body))
		// A request written to a kept-alive connection the backend had just
		// closed (it is shutting down) is sent again on a new one, as
		// nginx and HAProxy do: nothing of it reached the backend.
		rr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		p.backends[i].ServeHTTP(w, rr)
		if !a.retry {
			return
		}
	}
	http.Error(w, "rrproxy: no backend could be reached", http.StatusBadGateway)
}

// CheckHealth checks path on every backend each interval until t ends,
// as HAProxy's option httpchk does with fall 1 and rise 1: a backend that
// answers anything but 200, or refuses the connection, gets no request
// until it answers 200 again (unless every backend is down). A check that
// times out changes nothing: on a loaded test box every node may answer
// late at once, and "all down" would send requests to a draining one. A draining node says 503 there
// before it stops taking connections (examples/internal/run.HealthPath), so
// a balancer that checks it sends it nothing once it has gone, with no
// race against its listener closing.
func (p *Proxy) CheckHealth(t testing.TB, path string, interval time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	client := &http.Client{Timeout: interval, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			for i, base := range p.urls {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
				if err != nil {
					return
				}
				res, err := client.Do(req)
				var ne net.Error
				switch {
				case err == nil:
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					p.down[i].Store(res.StatusCode != http.StatusOK)
				case errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil:
					// No news: a loaded box answers late. Marking it down
					// could mark every node down at once, and then the
					// proxy sends to all of them, a draining one included.
				default:
					p.down[i].Store(true) // refused, reset: it is gone
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// Served returns how many requests each backend was sent, in order.
func (p *Proxy) Served() []int64 {
	out := make([]int64, len(p.counts))
	for i := range p.counts {
		out[i] = p.counts[i].Load()
	}
	return out
}
