package sockjs

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func prefixes(ps ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestClientAddress(t *testing.T) {
	tests := []struct {
		remote  string
		xff     []string // X-Forwarded-For header lines
		trusted []netip.Prefix
		want    string
	}{
		{"192.0.2.1:5000", nil, nil, "192.0.2.1"},
		{"192.0.2.1:5000", []string{"203.0.113.9"}, nil, "192.0.2.1"},                              // untrusted peer
		{"10.0.0.1:5000", []string{"203.0.113.9"}, prefixes("10.0.0.0/8"), "203.0.113.9"},          // trusted peer
		{"10.0.0.1:5000", []string{"1.1.1.1, 203.0.113.9"}, prefixes("10.0.0.0/8"), "203.0.113.9"}, // right-most
		{"10.0.0.1:5000", []string{"1.1.1.1", "203.0.113.9, 10.0.0.2"}, prefixes("10.0.0.0/8"), "203.0.113.9"},
		{"10.0.0.1:5000", []string{"10.0.0.3, 10.0.0.2"}, prefixes("10.0.0.0/8"), "10.0.0.3"},      // all trusted: left-most
		{"10.0.0.1:5000", []string{"unknown, 10.0.0.2"}, prefixes("10.0.0.0/8"), "10.0.0.2"},       // not an address: stop
		{"10.0.0.1:5000", []string{"203.0.113.9:4711"}, prefixes("10.0.0.0/8"), "203.0.113.9"},     // with a port
		{"10.0.0.1:5000", []string{"[2001:db8::1]:4711"}, prefixes("10.0.0.0/8"), "2001:db8::/64"}, // IPv6 with a port
		{"10.0.0.1:5000", []string{" , ,203.0.113.9 ,"}, prefixes("10.0.0.0/8"), "203.0.113.9"},    // empty entries
		{"10.0.0.1:5000", nil, prefixes("10.0.0.0/8"), "10.0.0.1"},                                 // no header
		{"[::ffff:192.0.2.1]:5000", nil, nil, "192.0.2.1"},                                         // mapped IPv4
		{"[2001:db8:a:b:c::1]:5000", nil, nil, "2001:db8:a:b::/64"},
		{"not-an-address", nil, nil, "not-an-address"},
	}
	for _, tt := range tests {
		l := newLimiter(&Options{MaxSessionsPerClient: 1, TrustedProxies: tt.trusted})
		r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := l.client(r); got != tt.want {
			t.Errorf("client(%s, X-Forwarded-For %q, trusting %v) = %q, want %q", tt.remote, tt.xff, tt.trusted, got, tt.want)
		}
	}
}

// Tickets given back free their place, whatever the client is called
// (even "" from a ClientAddr hook), and only once.
func TestTicketsComeBack(t *testing.T) {
	for _, name := range []string{"", "client"} {
		l := newLimiter(&Options{MaxSessions: 2, MaxSessionsPerClient: 1, ClientAddr: func(*http.Request) string { return name }})
		r := &http.Request{Header: http.Header{}}
		a := l.admit(r)
		if a == nil || l.admit(r) != nil {
			t.Fatalf("%q: want one ticket, then a refusal", name)
		}
		a.release()
		a.release()
		b := l.admit(r)
		if b == nil {
			t.Fatalf("%q: no ticket after the first came back", name)
		}
		b.releaseUnclaimed()
		if l.total.Load() != 0 || len(l.clients) != 0 {
			t.Fatalf("%q: total %d, clients %v after every ticket came back", name, l.total.Load(), l.clients)
		}
	}
}

// FuzzForwardedClient checks the X-Forwarded-For walk on any header: it
// never panics, and its answer is the peer or an address the header holds,
// never a trusted proxy unless every hop was one.
func FuzzForwardedClient(f *testing.F) {
	for _, s := range []string{"", "203.0.113.9", "1.1.1.1, 203.0.113.9", "10.0.0.3, 10.0.0.2", "unknown, 10.0.0.2", "[2001:db8::1]:4711", " , ,x,"} {
		f.Add(s)
	}
	l := newLimiter(&Options{MaxSessionsPerClient: 1, TrustedProxies: prefixes("10.0.0.0/8")})
	peer := netip.MustParseAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, xff string) {
		got := l.forwardedClient([]string{xff}, peer)
		if got == peer {
			return
		}
		found, allTrusted := false, true
		for e := range strings.SplitSeq(xff, ",") {
			a, ok := parseAddr(strings.TrimSpace(e))
			if ok && a == got {
				found = true
			}
			if !ok || !l.isTrusted(a) {
				allTrusted = false
			}
		}
		if !found {
			t.Fatalf("forwardedClient(%q) = %v, which the header does not hold", xff, got)
		}
		if l.isTrusted(got) && !allTrusted {
			// A trusted answer is right only when the walk stopped at a
			// non-address to its left.
			entries := strings.Split(xff, ",")
			for i := len(entries) - 1; i >= 0; i-- {
				a, ok := parseAddr(strings.TrimSpace(entries[i]))
				if strings.TrimSpace(entries[i]) == "" {
					continue
				}
				if !ok {
					return
				}
				if !l.isTrusted(a) {
					t.Fatalf("forwardedClient(%q) = trusted %v, though %v is untrusted", xff, got, a)
				}
			}
		}
	})
}
