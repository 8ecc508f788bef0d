package sockjs

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/session"
	"github.com/sockline/sockline/transports"
)

// MaxIDLength is the longest server or session id, in bytes, that the
// handler accepts in a session URL; longer ones are answered 404 like every
// other malformed session URL. sockjs-client makes 3-digit server ids and
// 8-character session ids (or whatever its sessionId option returns, such
// as a 36-character UUID), so 128 leaves ample room while keeping a client
// from naming sessions with kilobytes of text that the server then holds.
const MaxIDLength = 128

// limiter counts the sessions a handler holds, in total and per client
// address, against Options.MaxSessions and Options.MaxSessionsPerClient.
// A request that would create a session takes a ticket first; the session
// it creates keeps the ticket until it is forgotten (expired after its
// disconnect delay), and a ticket no session claimed is given back when
// the request ends.
type limiter struct {
	max        int64 // <= 0: no bound
	perClient  int   // <= 0: no bound, and no per-client counting
	trusted    []netip.Prefix
	clientAddr func(*http.Request) string
	retryAfter string // the Retry-After of a refusal, in seconds

	total   atomic.Int64
	mu      sync.Mutex
	clients map[string]int
}

func newLimiter(o *Options) *limiter {
	l := &limiter{
		max:        int64(o.MaxSessions),
		perClient:  o.MaxSessionsPerClient,
		trusted:    o.TrustedProxies,
		clientAddr: o.ClientAddr,
		// Room comes back when sessions are forgotten, which is at least
		// one disconnect delay after their client left.
		retryAfter: strconv.Itoa(int(max(time.Second, o.DisconnectDelay+time.Second-1) / time.Second)),
	}
	if l.perClient > 0 {
		l.clients = make(map[string]int)
	}
	return l
}

// ticket is one session's place in the counts.
type ticket struct {
	l       *limiter
	client  string
	counted bool // client's count holds this ticket
	claimed atomic.Bool
	done    atomic.Bool
}

type ticketKey struct{}

// admit takes a ticket for a request about to create a session, or
// returns nil when a limit is reached.
func (l *limiter) admit(r *http.Request) *ticket {
	if l.total.Add(1) > l.max && l.max > 0 {
		l.total.Add(-1)
		return nil
	}
	t := &ticket{l: l}
	if l.perClient > 0 {
		t.client = l.client(r)
		l.mu.Lock()
		n := l.clients[t.client]
		if n >= l.perClient {
			l.mu.Unlock()
			l.total.Add(-1)
			return nil
		}
		l.clients[t.client] = n + 1
		t.counted = true
		l.mu.Unlock()
	}
	return t
}

// take returns the ticket the request was admitted with, for the session
// it creates. A request that brought none (it was thought to need none, or
// the caller is not ServeHTTP) gets one past the limits, so that the
// counts stay true.
func (l *limiter) take(r *http.Request) *ticket {
	if t, ok := r.Context().Value(ticketKey{}).(*ticket); ok && t.claimed.CompareAndSwap(false, true) {
		return t
	}
	l.total.Add(1)
	t := &ticket{l: l}
	if l.perClient > 0 {
		t.client = l.client(r)
		l.mu.Lock()
		l.clients[t.client]++
		t.counted = true
		l.mu.Unlock()
	}
	t.claimed.Store(true)
	return t
}

// forgetting returns the function to call when a session is forgotten:
// the session's ticket given back, then forget. In that order, once
// Handler.Len no longer counts a session its place is free; the other
// order let a client that saw the count drop be refused for a moment. A new
// session may come in just before the old one is gone from the count: the
// old one is closed already and holds nothing more.
func (l *limiter) forgetting(r *http.Request, forget func(*session.Session)) func(*session.Session) {
	t := l.take(r)
	return func(s *session.Session) {
		t.release()
		forget(s)
	}
}

// release gives the ticket's place back, once.
func (t *ticket) release() {
	if !t.done.CompareAndSwap(false, true) {
		return
	}
	l := t.l
	l.total.Add(-1)
	if t.counted {
		l.mu.Lock()
		if n := l.clients[t.client] - 1; n > 0 {
			l.clients[t.client] = n
		} else {
			delete(l.clients, t.client)
		}
		l.mu.Unlock()
	}
}

// releaseUnclaimed gives the ticket back if no session took it.
func (t *ticket) releaseUnclaimed() {
	if t.claimed.CompareAndSwap(false, true) {
		t.release()
	}
}

// admitted runs serve for a request that would create a session, if the
// limits let it in, and answers 503 with Retry-After otherwise.
func (h *Handler) admitted(w http.ResponseWriter, r *http.Request, serve func(*http.Request)) {
	t := h.limits.admit(r)
	if t == nil {
		hd := w.Header()
		hd.Set("Content-Type", "text/plain; charset=UTF-8")
		hd.Set("Retry-After", h.limits.retryAfter)
		transports.NoCache(hd)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("Too many sessions; try again later."))
		return
	}
	defer t.releaseUnclaimed()
	serve(r.WithContext(context.WithValue(r.Context(), ticketKey{}, t)))
}

// client names the client of r for MaxSessionsPerClient: Options.ClientAddr
// when set, else the address the connection came from or, when that is a
// trusted proxy, the right-most address in X-Forwarded-For that is not
// one. IPv6 addresses count by their /64 prefix, which one client usually
// holds whole.
func (l *limiter) client(r *http.Request) string {
	if l.clientAddr != nil {
		return l.clientAddr(r)
	}
	addr, ok := parseAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if l.isTrusted(addr) {
		addr = l.forwardedClient(r.Header.Values("X-Forwarded-For"), addr)
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// forwardedClient walks X-Forwarded-For from the right, starting from the
// trusted proxy peer that sent it: each entry was written by the hop to
// its right, so the first one that is not a trusted proxy is the client.
// An entry that is not an address ends the walk at the hop that wrote it.
// When every entry is a trusted proxy, the left-most is the client.
func (l *limiter) forwardedClient(values []string, peer netip.Addr) netip.Addr {
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		entries := strings.Split(values[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			e := strings.TrimSpace(entries[j])
			if e == "" {
				continue
			}
			addr, ok := parseAddr(e)
			if !ok {
				return client
			}
			client = addr
			if !l.isTrusted(addr) {
				return client
			}
		}
	}
	return client
}

func (l *limiter) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr reads an IP address with or without a port ("1.2.3.4",
// "1.2.3.4:80", "[::1]:80", "::1"), IPv4-mapped IPv6 as IPv4.
func parseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// validID reports whether a server or session id from a URL is within
// MaxIDLength.
func validID(id string) bool { return len(id) <= MaxIDLength }
