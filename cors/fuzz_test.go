package cors

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzParseOrigin checks that parseOrigin never panics, that whatever it
// accepts serialises to a normalised form that parses to itself, and that
// an origin is same-origin with a request for its own host and port.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{
		"https://app.example.com", "HTTP://Example.COM:80", "http://localhost:03000",
		"http://[::1]:8080", "https://[0:0::ffff:1.2.3.4]:443", "https://a.b_c-d.e",
		"null", "", "https://evil.com/?x=.example.com", "https://u@h", "ws://h",
		"https://h:65535", "https://h:0", "http://[fe80::1%25en0]", "https://exampl\u212a.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseOrigin(s)
		if err != nil {
			return
		}
		n := o.String()
		o2, err := parseOrigin(n)
		if err != nil {
			t.Fatalf("%q normalises to %q, which does not parse: %v", s, n, err)
		}
		if o2 != o || o2.String() != n {
			t.Fatalf("%q normalises to %q, which parses to %+v, not %+v", s, n, o2, o)
		}
		if n != asciiLower(n) {
			t.Fatalf("normal form %q is not lower case", n)
		}
		host := o.host
		if o.port != "" {
			host += ":" + o.port
		}
		r := newRequest("GET", host, nil)
		if o.scheme == "https" {
			r = withTLS(r)
		}
		if !sameOrigin(o, r) {
			t.Fatalf("%q is not same-origin with a %s request for Host %q", s, o.scheme, host)
		}
	})
}

// FuzzPatternMatch checks that parsePattern and matching never panic, that
// a pattern without '*' matches exactly the origins that the exact-origin
// comparison of Policy accepts, and that a wildcard pattern matches exactly
// what an equivalent regular expression matches.
func FuzzPatternMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"https://*.example.com", "https://a.example.com"},
		{"https://*.example.com", "https://example.com.evil.com"},
		{"https://*.example.com", "https://evil.com/?x=.example.com"},
		{"https://app-*.example.com:*", "https://app-1.example.com:8443"},
		{"http://localhost:*", "http://localhost"},
		{"http://*.localhost:3000", "http://a.localhost:3000"},
		{"https://*-*.example.com", "https://a--b.example.com"},
		{"https://App.Example.com:443", "https://app.example.com"},
		{"http://[::1]:*", "http://[0::1]:1"},
		{"http://[::1]:3000", "http://[::1]:3000"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, org string) {
		p, perr := parsePattern(pat)
		o, oerr := parseOrigin(org)
		if perr != nil {
			return
		}
		p2, err := parsePattern(p.String())
		if err != nil || p2.String() != p.String() {
			t.Fatalf("pattern %q normalises to %q, which parses to %q, %v", pat, p, p2, err)
		}
		if oerr != nil {
			return
		}
		got := p.match(o)
		if !strings.Contains(pat, "*") {
			exact, err := New(Config{AllowedOrigins: []string{pat}})
			if err != nil {
				t.Fatalf("pattern %q without '*' is not a valid exact origin: %v", pat, err)
			}
			if want := exact.listed(o); got != want {
				t.Fatalf("pattern %q matches %q = %v, exact origin comparison says %v", pat, org, got, want)
			}
			return
		}
		if want := patternRegexp(p).MatchString(o.String()); got != want {
			t.Fatalf("pattern %q matches %q = %v, regexp %s says %v", pat, org, got, patternRegexp(p), want)
		}
	})
}

// patternRegexp is an independent rendering of the matching rules of p, to
// be matched against a normalised origin.
func patternRegexp(p pattern) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^" + regexp.QuoteMeta(p.scheme+"://"))
	for _, c := range p.host {
		if c == '*' {
			b.WriteString("[a-z0-9_-]+")
		} else {
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	switch {
	case p.anyPort:
		b.WriteString("(:[0-9]+)?")
	case p.port != "":
		b.WriteString(":" + p.port)
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
