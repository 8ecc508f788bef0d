package cors

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// newRequest builds a server-side request for host with the given headers;
// empty header values are left out.
func newRequest(method, host string, headers map[string]string) *http.Request {
	r := httptest.NewRequest(method, "/echo/info", nil)
	r.Host = host
	for k, v := range headers {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	return r
}

// withTLS marks r as received over TLS.
func withTLS(r *http.Request) *http.Request {
	r.TLS = &tls.ConnectionState{}
	return r
}

// mustNew is New for configurations known to be valid.
func mustNew(t testing.TB, c Config) *Policy {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatalf("New(%+v): %v", c, err)
	}
	return p
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error text
	}{
		{"star", Config{AllowedOrigins: []string{"*"}}, []string{`"*"`, "AllowAnyOrigin"}},
		{"null", Config{AllowedOrigins: []string{"null"}}, []string{`"null"`, "AllowNullOrigin"}},
		{"empty", Config{AllowedOrigins: []string{""}}, []string{`""`, "empty"}},
		{"no scheme", Config{AllowedOrigins: []string{"app.example.com"}}, []string{`"app.example.com"`, "scheme://host[:port]"}},
		{"trailing slash", Config{AllowedOrigins: []string{"https://app.example.com/"}}, []string{`"https://app.example.com/"`, "path"}},
		{"query", Config{AllowedOrigins: []string{"https://app.example.com?a"}}, []string{"query"}},
		{"fragment", Config{AllowedOrigins: []string{"https://app.example.com#a"}}, []string{"fragment"}},
		{"userinfo", Config{AllowedOrigins: []string{"https://u@app.example.com"}}, []string{"userinfo"}},
		{"ftp", Config{AllowedOrigins: []string{"ftp://app.example.com"}}, []string{"http or https"}},
		{"wss", Config{AllowedOrigins: []string{"wss://app.example.com"}}, []string{"WebSocket handshake"}},
		{"port", Config{AllowedOrigins: []string{"https://app.example.com:99999"}}, []string{"port"}},
		{"ipv6 unbracketed", Config{AllowedOrigins: []string{"http://::1"}}, []string{"brackets"}},
		{"space", Config{AllowedOrigins: []string{" https://app.example.com"}}, []string{`" https://app.example.com"`}},
		{"unicode", Config{AllowedOrigins: []string{"https://bücher.example"}}, []string{"punycode"}},
		{"wildcard in exact", Config{AllowedOrigins: []string{"https://*.example.com"}}, []string{`"https://*.example.com"`, "AllowedOriginPatterns"}},
		{"pattern tld", Config{AllowedOriginPatterns: []string{"https://*.com"}}, []string{`"https://*.com"`, "AllowedOriginPatterns", "two literal labels"}},
		{"pattern tail", Config{AllowedOriginPatterns: []string{"https://example.*"}}, []string{"two literal labels"}},
		{"pattern scheme", Config{AllowedOriginPatterns: []string{"*://example.com"}}, []string{"scheme cannot be a wildcard"}},
		{"pattern double star", Config{AllowedOriginPatterns: []string{"https://**.example.com"}}, []string{`"**"`}},
		{"pattern path", Config{AllowedOriginPatterns: []string{"https://*.example.com/*"}}, []string{"path"}},
		{"pattern star", Config{AllowedOriginPatterns: []string{"*"}}, []string{"AllowAnyOrigin"}},
		{"several", Config{
			AllowedOrigins:        []string{"https://ok.example.com", "bad1"},
			AllowedOriginPatterns: []string{"https://*.example.com", "bad2"},
		}, []string{`"bad1"`, `"bad2"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New(%+v) = %v, want an error", tt.cfg, p)
			}
			if !errors.Is(err, ErrInvalidOrigin) {
				t.Fatalf("error %q does not wrap ErrInvalidOrigin", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Config{
		AllowedOrigins:        []string{"HTTPS://App.Example.com:443", "https://app.example.com", "http://[::1]:3000"},
		AllowedOriginPatterns: []string{"https://*.example.com", "HTTPS://*.EXAMPLE.COM:443", "http://localhost:*"},
	})
	if got, want := len(p.exactList), 2; got != want {
		t.Errorf("%d exact origins after de-duplication, want %d", got, want)
	}
	if got, want := len(p.patterns), 2; got != want {
		t.Errorf("%d patterns after de-duplication, want %d", got, want)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	listed := Config{
		AllowedOrigins:        []string{"https://app.example.com"},
		AllowedOriginPatterns: []string{"https://*.example.org"},
	}
	tests := []struct {
		name   string
		cfg    Config
		origin []string
		host   string
		want   Decision
	}{
		{"no origin", Config{}, nil, "example.com", Decision{Allowed: true}},
		{"empty origin", Config{}, []string{""}, "example.com", Decision{Allowed: true}},
		{"same origin", Config{}, []string{"http://example.com"}, "example.com", Decision{true, "http://example.com", false}},
		{"same origin, odd case kept", Config{}, []string{"http://Example.com"}, "example.com", Decision{true, "http://Example.com", false}},
		{"cross origin refused", Config{}, []string{"http://evil.com"}, "example.com", Decision{false, "http://evil.com", true}},
		{"same host other port", Config{}, []string{"http://example.com:8080"}, "example.com", Decision{false, "http://example.com:8080", true}},
		{"listed", listed, []string{"https://app.example.com"}, "example.com", Decision{true, "https://app.example.com", true}},
		{"pattern", listed, []string{"https://a.example.org"}, "example.com", Decision{true, "https://a.example.org", true}},
		{"unlisted", listed, []string{"https://evil.example.net"}, "example.com", Decision{false, "https://evil.example.net", true}},
		{"null refused", Config{}, []string{"null"}, "example.com", Decision{false, "null", true}},
		{"null allowed", Config{AllowNullOrigin: true}, []string{"null"}, "example.com", Decision{true, "null", true}},
		{"null under any", Config{AllowAnyOrigin: true}, []string{"null"}, "example.com", Decision{true, "null", true}},
		{"null listed origins", listed, []string{"null"}, "example.com", Decision{false, "null", true}},
		{"unparsable refused", Config{}, []string{"test"}, "example.com", Decision{false, "test", true}},
		{"unparsable under any", Config{AllowAnyOrigin: true}, []string{"test"}, "example.com", Decision{true, "test", true}},
		{"extension refused", listed, []string{"chrome-extension://abc"}, "example.com", Decision{false, "chrome-extension://abc", true}},
		{"any", Config{AllowAnyOrigin: true}, []string{"https://evil.com"}, "example.com", Decision{true, "https://evil.com", true}},
		{"two origins", Config{}, []string{"http://example.com", "http://example.com"}, "example.com", Decision{false, "http://example.com", true}},
		{"two origins under any", Config{AllowAnyOrigin: true}, []string{"http://a.com", "http://b.com"}, "example.com", Decision{false, "http://a.com", true}},
		{"disabled", Config{Disabled: true}, []string{"https://evil.com"}, "example.com", Decision{true, "https://evil.com", true}},
		{"disabled null", Config{Disabled: true}, []string{"null"}, "example.com", Decision{true, "null", true}},
		{"disabled two", Config{Disabled: true}, []string{"a", "b"}, "example.com", Decision{true, "a", true}},
		{"disabled same", Config{Disabled: true}, []string{"http://example.com"}, "example.com", Decision{true, "http://example.com", false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, tt.cfg)
			r := newRequest("GET", tt.host, nil)
			r.Header["Origin"] = tt.origin
			if got := p.Check(r); got != tt.want {
				t.Fatalf("Check = %+v, want %+v", got, tt.want)
			}
			if got := p.CheckWebSocketOrigin(r); got != tt.want.Allowed {
				t.Fatalf("CheckWebSocketOrigin = %v, want %v", got, tt.want.Allowed)
			}
		})
	}
}

func TestZeroPolicy(t *testing.T) {
	t.Parallel()
	var p Policy
	r := newRequest("GET", "example.com", map[string]string{"Origin": "http://example.com"})
	if !p.Check(r).Allowed {
		t.Error("zero Policy refuses a same-origin request")
	}
	r = newRequest("GET", "example.com", map[string]string{"Origin": "http://evil.com"})
	if p.Check(r).Allowed {
		t.Error("zero Policy allows a cross-origin request")
	}
	if got := p.FrameAncestors(); got != "'self'" {
		t.Errorf("zero Policy FrameAncestors = %q", got)
	}
	if !p.Restricted() {
		t.Error("zero Policy is not Restricted")
	}
}

func TestFrameAncestors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"default", Config{}, "'self'"},
		{"null only", Config{AllowNullOrigin: true}, "'self'"},
		{"any", Config{AllowAnyOrigin: true, AllowedOrigins: []string{"https://a.example.com"}}, "*"},
		{"disabled", Config{Disabled: true, AllowAnyOrigin: true}, ""},
		{"listed", Config{
			AllowedOrigins:        []string{"https://App.example.com:443", "http://localhost:3000", "http://[::1]:3000", "https://under_score.example"},
			AllowedOriginPatterns: []string{"https://*.example.com", "http://localhost:*", "https://app-*.example.com", "https://*.example.org:*"},
		}, "'self' https://app.example.com http://localhost:3000 https://*.example.com http://localhost:* https://*.example.org:*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := mustNew(t, tt.cfg).FrameAncestors(); got != tt.want {
				t.Fatalf("FrameAncestors = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRestricted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  Config
		want bool
	}{
		{Config{}, true},
		{Config{AllowedOrigins: []string{"https://a.example.com"}}, true},
		{Config{AllowedOriginPatterns: []string{"https://*.example.com"}}, true},
		{Config{AllowNullOrigin: true}, true},
		{Config{AllowAnyOrigin: true}, false},
		{Config{Disabled: true}, false},
	}
	for _, tt := range tests {
		if got := mustNew(t, tt.cfg).Restricted(); got != tt.want {
			t.Errorf("Restricted(%+v) = %v, want %v", tt.cfg, got, tt.want)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	p := mustNew(b, Config{
		AllowedOrigins:        []string{"https://app.example.com", "http://localhost:3000"},
		AllowedOriginPatterns: []string{"https://*.example.org", "http://*.localhost:*"},
	})
	for _, bc := range []struct{ name, origin string }{
		{"none", ""},
		{"same", "http://example.com"},
		{"exact", "https://app.example.com"},
		{"pattern", "https://chat.example.org"},
		{"refused", "https://evil.com"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newRequest("GET", "example.com", map[string]string{"Origin": bc.origin})
			b.ReportAllocs()
			for b.Loop() {
				p.Check(r)
			}
		})
	}
}
