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
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
)

// Proxy is a round-robin reverse proxy on 127.0.0.1.
type Proxy struct {
	*httptest.Server

	next     atomic.Uint64
	backends []*httputil.ReverseProxy
	counts   []atomic.Int64
}

// Start starts a proxy in front of backends (base URLs such as
// "http://127.0.0.1:8081") and closes it when t ends.
func Start(t testing.TB, backends ...string) *Proxy {
	t.Helper()
	if len(backends) == 0 {
		t.Fatal("rrproxy: no backends")
	}
	p := &Proxy{counts: make([]atomic.Int64, len(backends))}
	for _, b := range backends {
		u, err := url.Parse(b)
		if err != nil {
			t.Fatalf("rrproxy: backend %q: %v", b, err)
		}
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.FlushInterval = -1 // flush every write: streaming must stream
		rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			if refused, ok := r.Context().Value(refusedKey{}).(*bool); ok && errors.Is(err, syscall.ECONNREFUSED) {
				*refused = true // nothing was sent: serve tries the next backend
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

// refusedKey marks a request's context with where the error handler says
// that the backend refused the connection.
type refusedKey struct{}

// maxReplayBody bounds the request bodies kept to replay on another backend.
const maxReplayBody = 4 << 20

// serve sends r to the next backend; one that refuses the connection (it is
// down, or restarting) is skipped for the one after it, as nginx's
// proxy_next_upstream error and HAProxy's redispatch do: nothing reached it,
// so the request can go elsewhere.
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
	for try := range uint64(len(p.backends)) {
		i := int((start + try) % uint64(len(p.backends)))
		p.counts[i].Add(1)
		refused := false
		rr := r.Clone(context.WithValue(r.Context(), refusedKey{}, &refused))
		rr.Body = io.NopCloser(bytes.NewReader(body))
		// A request written to a kept-alive connection the backend had just
		// closed (it is shutting down) is sent again on a new one, as
		// nginx and HAProxy do: nothing of it reached the backend.
		rr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		p.backends[i].ServeHTTP(w, rr)
		if !refused {
			return
		}
	}
	http.Error(w, "rrproxy: every backend refused the connection", http.StatusBadGateway)
}

// Served returns how many requests each backend was sent, in order.
func (p *Proxy) Served() []int64 {
	out := make([]int64, len(p.counts))
	for i := range p.counts {
		out[i] = p.counts[i].Load()
	}
	return out
}
