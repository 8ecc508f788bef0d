package cors

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

const testMethods = "OPTIONS, POST"

// newServer serves p the way a SockJS endpoint does: OPTIONS goes to
// Preflight, everything else through Apply and then "ok\n". An X-Test-Vary
// request header is copied into the response's Vary first, standing for
// other middleware.
func newServer(t *testing.T, p *Policy, useTLS bool) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("X-Test-Vary"); v != "" {
			w.Header().Set("Vary", v)
		}
		if r.Method == http.MethodOptions {
			p.Preflight(w, r, testMethods)
			return
		}
		if !p.Apply(w, r) {
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	var ts *httptest.Server
	if useTLS {
		ts = httptest.NewTLSServer(h)
	} else {
		ts = httptest.NewServer(h)
	}
	t.Cleanup(ts.Close)
	return ts
}

// httpCase is one request through a real server and the answer expected.
type httpCase struct {
	name       string
	cfg        Config
	tls        bool
	method     string   // default GET
	origin     []string // Origin header values; "{self}" becomes the server's own origin
	host       string   // Host header; default the server's address
	header     map[string]string
	wantStatus int
	wantACAO   string // "" means absent
	wantCreds  bool
	wantVary   []string // nil means no Vary header
}

func runHTTPCases(t *testing.T, tests []httpCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newServer(t, mustNew(t, tt.cfg), tt.tls)
			self := ts.URL
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, ts.URL+"/echo/info", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range tt.origin {
				req.Header.Add("Origin", strings.ReplaceAll(o, "{self}", self))
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			checkResponse(t, tt, resp, string(body), self)
		})
	}
}

func checkResponse(t *testing.T, tt httpCase, resp *http.Response, body, self string) {
	t.Helper()
	h := resp.Header
	if resp.StatusCode != tt.wantStatus {
		t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, body)
	}
	wantBody := map[int]string{200: "ok\n", 204: "", 403: "Origin not allowed.\n"}[tt.wantStatus]
	if body != wantBody {
		t.Errorf("body %q, want %q", body, wantBody)
	}
	wantACAO := strings.ReplaceAll(tt.wantACAO, "{self}", self)
	if got := h.Values(hAllowOrigin); wantACAO == "" && len(got) > 0 || wantACAO != "" && !slices.Equal(got, []string{wantACAO}) {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, wantACAO)
	}
	if got := h.Values(hAllowCredentials); tt.wantCreds != slices.Equal(got, []string{"true"}) || !tt.wantCreds && len(got) > 0 {
		t.Errorf("Access-Control-Allow-Credentials %q, want present: %v", got, tt.wantCreds)
	}
	if got := h.Values("Vary"); !slices.Equal(got, tt.wantVary) {
		t.Errorf("Vary %q, want %q", got, tt.wantVary)
	}
	if tt.wantStatus == http.StatusForbidden {
		if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("403 Content-Type %q", ct)
		}
		if got := h.Get(hAllowMethods); got != "" {
			t.Errorf("403 with Access-Control-Allow-Methods %q", got)
		}
	}
}

func TestApplyHTTP(t *testing.T) {
	t.Parallel()
	vary := []string{"Origin"}
	listed := Config{
		AllowedOrigins:        []string{"HTTPS://App.Example.com:443", "http://localhost:3000"},
		AllowedOriginPatterns: []string{"https://*.example.org", "http://dev.localhost:*"},
	}
	runHTTPCases(t, []httpCase{
		// No Origin: "*" without credentials.
		{name: "no origin", wantStatus: 200, wantACAO: "*", wantVary: vary},
		{name: "empty origin", origin: []string{""}, wantStatus: 200, wantACAO: "*", wantVary: vary},
		{name: "no origin, restricted config", cfg: listed, wantStatus: 200, wantACAO: "*", wantVary: vary},

		// Same origin, decided against the Host header.
		{name: "same origin", origin: []string{"{self}"}, wantStatus: 200, wantACAO: "{self}", wantCreds: true, wantVary: vary},
		{name: "same origin by host", origin: []string{"http://example.com"}, host: "example.com", wantStatus: 200, wantACAO: "http://example.com", wantCreds: true, wantVary: vary},
		{name: "same origin, host with default port", origin: []string{"http://example.com"}, host: "example.com:80", wantStatus: 200, wantACAO: "http://example.com", wantCreds: true, wantVary: vary},
		{name: "same origin, host case", origin: []string{"http://example.com"}, host: "EXAMPLE.COM", wantStatus: 200, wantACAO: "http://example.com", wantCreds: true, wantVary: vary},
		{name: "same origin ipv6", origin: []string{"http://[0:0::1]:8080"}, host: "[::1]:8080", wantStatus: 200, wantACAO: "http://[0:0::1]:8080", wantCreds: true, wantVary: vary},
		{name: "same host, other port", origin: []string{"http://127.0.0.1:1"}, wantStatus: 403, wantVary: vary},
		{name: "same host, origin port vs none", origin: []string{"http://example.com:8080"}, host: "example.com", wantStatus: 403, wantVary: vary},
		{name: "same host, host port vs none", origin: []string{"http://example.com"}, host: "example.com:8080", wantStatus: 403, wantVary: vary},
		{name: "xfp https, http origin", origin: []string{"http://example.com"}, host: "example.com", header: map[string]string{"X-Forwarded-Proto": "https"}, wantStatus: 403, wantVary: vary},
		{name: "xfp https, https origin", origin: []string{"https://example.com"}, host: "example.com", header: map[string]string{"X-Forwarded-Proto": "https"}, wantStatus: 200, wantACAO: "https://example.com", wantCreds: true, wantVary: vary},
		{name: "scheme unknown, https origin", origin: []string{"https://example.com"}, host: "example.com", wantStatus: 200, wantACAO: "https://example.com", wantCreds: true, wantVary: vary},
		{name: "cross origin, host spoof irrelevant", origin: []string{"http://evil.com"}, host: "example.com", wantStatus: 403, wantVary: vary},

		// Exact origins: case and default ports.
		{name: "listed", cfg: listed, origin: []string{"https://app.example.com"}, wantStatus: 200, wantACAO: "https://app.example.com", wantCreds: true, wantVary: vary},
		{name: "listed, other case echoed as sent", cfg: listed, origin: []string{"https://APP.example.COM"}, wantStatus: 200, wantACAO: "https://APP.example.COM", wantCreds: true, wantVary: vary},
		{name: "listed, explicit default port", cfg: listed, origin: []string{"https://app.example.com:443"}, wantStatus: 200, wantACAO: "https://app.example.com:443", wantCreds: true, wantVary: vary},
		{name: "listed with port", cfg: listed, origin: []string{"http://localhost:3000"}, wantStatus: 200, wantACAO: "http://localhost:3000", wantCreds: true, wantVary: vary},
		{name: "listed, other port", cfg: listed, origin: []string{"https://app.example.com:8443"}, wantStatus: 403, wantVary: vary},
		{name: "listed, other scheme", cfg: listed, origin: []string{"http://app.example.com"}, wantStatus: 403, wantVary: vary},
		{name: "listed, other port (localhost)", cfg: listed, origin: []string{"http://localhost:3001"}, wantStatus: 403, wantVary: vary},
		{name: "listed, trailing slash sent", cfg: listed, origin: []string{"https://app.example.com/"}, wantStatus: 403, wantVary: vary},

		// Patterns.
		{name: "pattern", cfg: listed, origin: []string{"https://a.example.org"}, wantStatus: 200, wantACAO: "https://a.example.org", wantCreds: true, wantVary: vary},
		{name: "pattern, bare domain", cfg: listed, origin: []string{"https://example.org"}, wantStatus: 403, wantVary: vary},
		{name: "pattern, suffix attack", cfg: listed, origin: []string{"https://example.org.evil.com"}, wantStatus: 403, wantVary: vary},
		{name: "pattern, query attack", cfg: listed, origin: []string{"https://evil.com/?x=.example.org"}, wantStatus: 403, wantVary: vary},
		{name: "pattern, two labels", cfg: listed, origin: []string{"https://a.b.example.org"}, wantStatus: 403, wantVary: vary},
		{name: "pattern any port", cfg: listed, origin: []string{"http://dev.localhost:5173"}, wantStatus: 200, wantACAO: "http://dev.localhost:5173", wantCreds: true, wantVary: vary},

		// null.
		{name: "null refused", origin: []string{"null"}, wantStatus: 403, wantVary: vary},
		{name: "null refused with lists", cfg: listed, origin: []string{"null"}, wantStatus: 403, wantVary: vary},
		{name: "null allowed", cfg: Config{AllowNullOrigin: true}, origin: []string{"null"}, wantStatus: 200, wantACAO: "null", wantCreds: true, wantVary: vary},
		{name: "null under any", cfg: Config{AllowAnyOrigin: true}, origin: []string{"null"}, wantStatus: 200, wantACAO: "null", wantCreds: true, wantVary: vary},

		// AllowAnyOrigin echoes, never "*" with credentials.
		{name: "any", cfg: Config{AllowAnyOrigin: true}, origin: []string{"https://evil.com"}, wantStatus: 200, wantACAO: "https://evil.com", wantCreds: true, wantVary: vary},
		{name: "any, non-origin value", cfg: Config{AllowAnyOrigin: true}, origin: []string{"test"}, wantStatus: 200, wantACAO: "test", wantCreds: true, wantVary: vary},
		{name: "any, no origin", cfg: Config{AllowAnyOrigin: true}, wantStatus: 200, wantACAO: "*", wantVary: vary},
		{name: "unparsable refused", origin: []string{"test"}, wantStatus: 403, wantVary: vary},
		{name: "two origins", cfg: Config{AllowAnyOrigin: true}, origin: []string{"https://a.com", "https://b.com"}, wantStatus: 403, wantVary: vary},

		// Disabled: nothing written, nothing refused.
		{name: "disabled, cross origin", cfg: Config{Disabled: true}, origin: []string{"https://evil.com"}, wantStatus: 200},
		{name: "disabled, null", cfg: Config{Disabled: true}, origin: []string{"null"}, wantStatus: 200},
		{name: "disabled, no origin", cfg: Config{Disabled: true}, wantStatus: 200},

		// Vary is appended to, once.
		{name: "vary appended", origin: []string{"{self}"}, header: map[string]string{"X-Test-Vary": "Accept-Encoding"}, wantStatus: 200, wantACAO: "{self}", wantCreds: true, wantVary: []string{"Accept-Encoding", "Origin"}},
		{name: "vary appended on refusal", origin: []string{"https://evil.com"}, header: map[string]string{"X-Test-Vary": "Accept-Encoding"}, wantStatus: 403, wantVary: []string{"Accept-Encoding", "Origin"}},
		{name: "vary already has origin", header: map[string]string{"X-Test-Vary": "Accept-Encoding, origin"}, wantStatus: 200, wantACAO: "*", wantVary: []string{"Accept-Encoding, origin"}},
		{name: "vary star", header: map[string]string{"X-Test-Vary": "*"}, wantStatus: 200, wantACAO: "*", wantVary: []string{"*"}},
		{name: "vary untouched when disabled", cfg: Config{Disabled: true}, header: map[string]string{"X-Test-Vary": "Accept-Encoding"}, wantStatus: 200, wantVary: []string{"Accept-Encoding"}},
	})
}

func TestApplyHTTPS(t *testing.T) {
	t.Parallel()
	vary := []string{"Origin"}
	runHTTPCases(t, []httpCase{
		{name: "same origin over TLS", tls: true, origin: []string{"{self}"}, wantStatus: 200, wantACAO: "{self}", wantCreds: true, wantVary: vary},
		{name: "TLS wins over X-Forwarded-Proto", tls: true, origin: []string{"{self}"}, header: map[string]string{"X-Forwarded-Proto": "http"}, wantStatus: 200, wantACAO: "{self}", wantCreds: true, wantVary: vary},
		{name: "scheme downgrade refused", tls: true, origin: []string{"http://example.com"}, host: "example.com", wantStatus: 403, wantVary: vary},
		{name: "https origin, TLS, host without port", tls: true, origin: []string{"https://example.com"}, host: "example.com", wantStatus: 200, wantACAO: "https://example.com", wantCreds: true, wantVary: vary},
		{name: "https origin, TLS, host :443", tls: true, origin: []string{"https://example.com"}, host: "example.com:443", wantStatus: 200, wantACAO: "https://example.com", wantCreds: true, wantVary: vary},
	})
}

func TestPreflightHTTP(t *testing.T) {
	t.Parallel()
	listed := Config{AllowedOrigins: []string{"https://app.example.com"}}
	tests := []struct {
		name        string
		cfg         Config
		origin      string // "" means none
		reqHeaders  string
		wantStatus  int
		wantACAO    string
		wantHeaders string // Access-Control-Allow-Headers; "" means absent
		wantVary    []string
	}{
		{"allowed", listed, "https://app.example.com", "", 204, "https://app.example.com", "", []string{"Origin"}},
		{"allowed, request headers echoed", listed, "https://app.example.com", "Content-Type, X-Custom", 204, "https://app.example.com", "Content-Type, X-Custom", []string{"Origin", "Access-Control-Request-Headers"}},
		{"bad request headers not echoed", listed, "https://app.example.com", "a b(c)", 204, "https://app.example.com", "", []string{"Origin"}},
		{"no origin", listed, "", "", 204, "*", "", []string{"Origin"}},
		{"null allowed", Config{AllowNullOrigin: true}, "null", "", 204, "null", "", []string{"Origin"}},
		{"refused", listed, "https://evil.com", "Content-Type", 403, "", "", []string{"Origin"}},
		{"null refused", listed, "null", "", 403, "", "", []string{"Origin"}},
		{"disabled", Config{Disabled: true}, "https://evil.com", "Content-Type", 204, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, tt.cfg)
			ts := newServer(t, p, false)
			req, err := http.NewRequest(http.MethodOptions, ts.URL+"/echo/xhr_send", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			req.Header.Set("Access-Control-Request-Method", "POST")
			if tt.reqHeaders != "" {
				req.Header.Set(hRequestHeaders, tt.reqHeaders)
			}
			before := time.Now()
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			checkResponse(t, httpCase{
				wantStatus: tt.wantStatus,
				wantACAO:   tt.wantACAO,
				wantCreds:  tt.wantACAO != "" && tt.wantACAO != "*",
				wantVary:   tt.wantVary,
			}, resp, string(body), "")
			if tt.wantStatus != http.StatusNoContent {
				return
			}
			checkPreflightHeaders(t, resp.Header, before, !tt.cfg.Disabled, tt.wantHeaders)
		})
	}
}

func checkPreflightHeaders(t *testing.T, h http.Header, before time.Time, cors bool, wantHeaders string) {
	t.Helper()
	if got := h.Get("Cache-Control"); got != "public, max-age=31536000" {
		t.Errorf("Cache-Control %q", got)
	}
	exp, err := http.ParseTime(h.Get("Expires"))
	if err != nil {
		t.Errorf("Expires %q: %v", h.Get("Expires"), err)
	} else if year := before.Add(365 * 24 * time.Hour); exp.Before(year.Add(-2*time.Second)) || exp.After(year.Add(time.Minute)) {
		t.Errorf("Expires %v, want about %v", exp, year)
	}
	wantMethods, wantMaxAge := "", ""
	if cors {
		wantMethods, wantMaxAge = testMethods, "31536000"
	}
	if got := h.Get(hAllowMethods); got != wantMethods {
		t.Errorf("Access-Control-Allow-Methods %q, want %q", got, wantMethods)
	}
	if got := h.Get(hMaxAge); got != wantMaxAge {
		t.Errorf("Access-Control-Max-Age %q, want %q", got, wantMaxAge)
	}
	if got := h.Get(hAllowHeaders); got != wantHeaders {
		t.Errorf("Access-Control-Allow-Headers %q, want %q", got, wantHeaders)
	}
}
