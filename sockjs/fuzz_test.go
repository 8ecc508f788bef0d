package sockjs

// Fuzz targets for the handler's parsers: session URLs, the mount prefix,
// the iframe page's script URL, the Secure-cookie scheme check, and the
// request headers echoed on transport responses. Seed corpora are in
// testdata/fuzz/<target>; scripts/fuzz.sh runs every target briefly.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// sessionPathRule is splitSessionPath's documented rule: three segments,
// server and session non-empty and free of dots (and, checked apart, at
// most MaxIDLength bytes).
var sessionPathRule = regexp.MustCompile(`^/([^/.]+)/([^/.]+)/([^/]*)$`)

// FuzzSplitSessionPath checks session path splitting against its rule,
// and that the parts it returns rebuild the path.
func FuzzSplitSessionPath(f *testing.F) {
	for _, s := range []string{"/000/abc/xhr", "/0/" + strings.Repeat("s", MaxIDLength+1) + "/xhr", "/a/b/c/d", "//b/xhr", "/a//xhr", "/a.b/c/xhr", "/a/b.c/xhr", "/a/b/", "a/b/c", "/a/b/xhr_send?x", "/\x00/\xff/é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		server, id, transport, ok := splitSessionPath(p)
		m := sessionPathRule.FindStringSubmatch(p)
		if m != nil && (len(m[1]) > MaxIDLength || len(m[2]) > MaxIDLength) {
			m = nil
		}
		if ok != (m != nil) {
			t.Fatalf("splitSessionPath(%q) ok = %v; the rule says %v", p, ok, m != nil)
		}
		if !ok {
			if server != "" || id != "" || transport != "" {
				t.Fatalf("splitSessionPath(%q) refused it but returned %q %q %q", p, server, id, transport)
			}
			return
		}
		if server != m[1] || id != m[2] || transport != m[3] {
			t.Fatalf("splitSessionPath(%q) = %q %q %q; want %q", p, server, id, transport, m[1:])
		}
		if back := "/" + server + "/" + id + "/" + transport; back != p {
			t.Fatalf("parts of %q rebuild %q", p, back)
		}
	})
}

// FuzzRelativePath checks the Options.Prefix cut: a request is the
// handler's exactly when its path is the prefix or below it (a path
// segment boundary, never "/echoes" for "/echo"), and the rest keeps the
// prefix's remainder whole.
func FuzzRelativePath(f *testing.F) {
	for _, s := range [][2]string{{"/echo", "/echo"}, {"/echo", "/echo/info"}, {"/echo", "/echoes/info"}, {"/a/b", "/a/b/c/d/xhr"}, {"/echo", "/ECHO/info"}, {"/echo", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, prefix, path string) {
		o := Options{Prefix: prefix}
		if prefix == "" || o.Validate() != nil {
			return // no prefix: the path is taken as it is (chi, StripPrefix)
		}
		h := &Handler{opts: o}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.Path = path
		rest, ok := h.relativePath(r)
		want := path == prefix || strings.HasPrefix(path, prefix+"/")
		if ok != want {
			t.Fatalf("prefix %q, path %q: ok = %v; want %v", prefix, path, ok, want)
		}
		if ok && prefix+rest != path {
			t.Fatalf("prefix %q, path %q: rest %q", prefix, path, rest)
		}
	})
}

// FuzzValidScriptURL checks Options.SockJSURL validation: whatever it
// accepts is loaded over http or https, however a page resolves it, holds
// no control character a browser would strip (turning "java\tscript:"
// into a scheme), and has no scheme but http or https as a browser reads
// one; everything with another scheme is refused.
func FuzzValidScriptURL(f *testing.F) {
	for _, s := range []string{
		DefaultSockJSURL, "/static/sockjs.js", "//cdn.example.com/s.js", "javascript:alert(1)", "JavaScript:x",
		"java\tscript:x", "data:text/javascript,x", "https:", "https:///x", "HTTP://x/y.js", "/\\evil.com/x.js",
		"relative/sockjs.js", " /x.js", "http://[::1]:8080/s.js", "http://%zz/",
	} {
		f.Add(s)
	}
	base, _ := url.Parse("https://page.example/dir/page.html")
	schemeRe := regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*):`)
	f.Fuzz(func(t *testing.T, u string) {
		// A browser strips leading and trailing C0 controls and spaces,
		// and every tab and newline, before it reads a URL.
		seen := strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, strings.Trim(u, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "))
		scheme := ""
		if m := schemeRe.FindStringSubmatch(seen); m != nil {
			scheme = strings.ToLower(m[1])
		}
		ok := validScriptURL(u)
		if scheme != "" && scheme != "http" && scheme != "https" {
			if ok {
				t.Fatalf("validScriptURL(%q) accepted scheme %q", u, scheme)
			}
			return
		}
		if !ok {
			return
		}
		if strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("validScriptURL(%q) accepted a control character", u)
		}
		lower := strings.ToLower(u)
		if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(u, "/") {
			t.Fatalf("validScriptURL(%q) accepted something that is neither http(s) nor a path", u)
		}
		p, err := url.Parse(u)
		if err != nil {
			t.Fatalf("validScriptURL(%q) accepted what url.Parse refuses: %v", u, err)
		}
		if abs := base.ResolveReference(p); abs.Scheme != "http" && abs.Scheme != "https" || abs.Host == "" {
			t.Fatalf("validScriptURL(%q) accepted a URL that resolves to %q", u, abs)
		}
	})
}

// FuzzIsSecure checks the Secure-cookie decision against the rule the
// origin policy uses for the request's scheme: TLS, or a first
// X-Forwarded-Proto element (whitespace and ASCII case aside) of https or
// wss. A proxy that appends itself ("https, http") must still count.
func FuzzIsSecure(f *testing.F) {
	for _, s := range []string{"https", "HTTPS", "https, http", " https ,http", "http, https", "wss", "ws", "", "httpſ"} {
		f.Add(s, "", false)
	}
	f.Add("", "", true)
	f.Fuzz(func(t *testing.T, v1, v2 string, tls bool) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Add("X-Forwarded-Proto", v1)
		r.Header.Add("X-Forwarded-Proto", v2)
		if !tls {
			r.TLS = nil
		} else {
			r = httptest.NewRequest(http.MethodGet, "https://h/", nil)
		}
		first, _, _ := strings.Cut(v1, ",")
		first = strings.Trim(first, " \t\n\v\f\r") // ASCII whitespace; a real request cannot carry the controls among it
		want := tls || strings.EqualFold(first, "https") && isASCII(first) || strings.EqualFold(first, "wss") && isASCII(first)
		if got := isSecure(r); got != want {
			t.Fatalf("isSecure(TLS %v, X-Forwarded-Proto %q, %q) = %v; want %v", tls, v1, v2, got, want)
		}
	})
}

func isASCII(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 })
}

// FuzzReflectedRequestHeaders checks what a transport response echoes of
// Access-Control-Request-Headers: nothing, or a list of header names (the
// rule of the preflight answer), never other bytes the request chose.
func FuzzReflectedRequestHeaders(f *testing.F) {
	for _, s := range []string{"content-type", "X-A, X-B", "a b", "a;b", "<script>", "x\x7f", strings.Repeat("a,", 3000)} {
		f.Add(s)
	}
	h := NewHandler(Options{AllowAnyOrigin: true}, func(context.Context, *Session) {})
	f.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	listRe := regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z \t,-]*$")
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodPost, "/a/b/xhr_send", strings.NewReader(`["x"]`))
		r.Header.Set("Origin", "https://app.example.com")
		r.Header["Access-Control-Request-Headers"] = []string{v}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		for _, got := range w.Header().Values("Access-Control-Allow-Headers") {
			if len(got) > 4096 || !listRe.MatchString(got) {
				t.Fatalf("Access-Control-Request-Headers %q echoed as %q, not a list of header names", v, got)
			}
		}
	})
}
