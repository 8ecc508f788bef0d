// Package rrproxy is a test load balancer that sends every HTTP request to
// the next backend in turn: the worst case for SockJS's HTTP transports,
// whose sessions span many requests, and what a cluster must survive without
// sticky sessions. Websocket upgrades are proxied too (to the backend whose
// turn it is). Responses are flushed at once, as a proxy with buffering off
// does, so streaming transports stream through it.
package rrproxy

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
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
			http.Error(w, "rrproxy: backend unavailable: "+err.Error(), http.StatusBadGateway)
		}
		p.backends = append(p.backends, rp)
	}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	i := int((p.next.Add(1) - 1) % uint64(len(p.backends)))
	p.counts[i].Add(1)
	p.backends[i].ServeHTTP(w, r)
}

// Served returns how many requests each backend was sent, in order.
func (p *Proxy) Served() []int64 {
	out := make([]int64, len(p.counts))
	for i := range p.counts {
		out[i] = p.counts[i].Load()
	}
	return out
}
