package cors

// Fuzz targets for the header parsers of this package: the request scheme
// (X-Forwarded-Proto), the Access-Control-Request-Headers token list and
// the Vary list. Seed corpora are in testdata/fuzz/<target>.

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// FuzzRequestScheme checks RequestScheme against its documented rule: TLS
// means https; otherwise the first element of the first X-Forwarded-Proto
// line, without surrounding ASCII whitespace and compared in ASCII case only,
// gives https for https and wss, http for http and ws, and nothing else
// gives a scheme. Where the first element holds non-ASCII bytes, only the
// outcome's shape is checked (Unicode spaces may be trimmed).
func FuzzRequestScheme(f *testing.F) {
	for _, s := range [][2]string{
		{"https", ""}, {"HTTPS, http", ""}, {" wss ", ""}, {"http,https", ""}, {"", "https"},
		{"httpſ", ""}, {"https\u00a0", ""}, {"ftp", ""}, {"ws", "https"},
	} {
		f.Add(s[0], s[1], false)
	}
	f.Add("http", "", true)
	f.Fuzz(func(t *testing.T, v1, v2 string, tls bool) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, v := range []string{v1, v2} {
			r.Header.Add("X-Forwarded-Proto", v)
		}
		if tls {
			r = withTLS(r)
		}
		got := RequestScheme(r)
		first, _, _ := strings.Cut(v1, ",")
		first = strings.Trim(first, " \t\n\v\f\r") // ASCII whitespace; a real request cannot carry the controls among it
		want := ""
		switch asciiLower(first) {
		case "https", "wss":
			want = "https"
		case "http", "ws":
			want = "http"
		}
		if tls {
			want = "https"
		}
		if !tls && strings.ContainsFunc(first, func(r rune) bool { return r >= 0x80 }) {
			if got != "" && got != "http" && got != "https" {
				t.Fatalf("RequestScheme(%q) = %q", v1, got)
			}
			return
		}
		if got != want {
			t.Fatalf("RequestScheme(X-Forwarded-Proto %q, %q; TLS %v) = %q; want %q", v1, v2, tls, got, want)
		}
	})
}

// tokenListRule is isTokenList's documented rule: RFC 9110 tchars, commas
// and optional whitespace, at most 4 KiB.
var tokenListRule = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z \t,-]*$")

// FuzzPreflightRequestHeaders checks the Access-Control-Request-Headers
// handling of a preflight: isTokenList follows its rule, and the
// Access-Control-Allow-Headers answer is either absent or the request's
// lines joined, a valid token list, with Vary naming the request header.
func FuzzPreflightRequestHeaders(f *testing.F) {
	for _, s := range [][2]string{
		{"content-type", ""}, {"X-Requested-With, Content-Type", "x-b"}, {"a\r\nSet-Cookie: x=1", ""},
		{"a b", ""}, {"\x00", ""}, {"é", ""}, {",", " "}, {strings.Repeat("a,", 2100), ""},
	} {
		f.Add(s[0], s[1])
	}
	p, err := New(Config{AllowAnyOrigin: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		if got, want := isTokenList(v1), len(v1) <= 4096 && tokenListRule.MatchString(v1); got != want {
			t.Fatalf("isTokenList(%q) = %v; the rule says %v", v1, got, want)
		}
		r := httptest.NewRequest(http.MethodOptions, "/a/b/xhr", nil)
		r.Header.Set("Origin", "https://app.example.com")
		r.Header["Access-Control-Request-Headers"] = []string{v1, v2}
		w := httptest.NewRecorder()
		p.Preflight(w, r, "OPTIONS, POST")
		if w.Code != http.StatusNoContent {
			t.Fatalf("preflight answered %d", w.Code)
		}
		allow := w.Header().Values(hAllowHeaders)
		if len(allow) == 0 {
			if joined := v1 + ", " + v2; isTokenList(joined) && strings.Trim(joined, " \t,") != "" {
				t.Fatalf("valid list %q not echoed", joined)
			}
			return
		}
		if len(allow) != 1 || allow[0] != v1+", "+v2 || !tokenListRule.MatchString(allow[0]) {
			t.Fatalf("Access-Control-Allow-Headers %q for request lines %q, %q", allow, v1, v2)
		}
		if !varyLists(w.Header(), hRequestHeaders) {
			t.Fatalf("Vary %q does not name %s", w.Header().Values("Vary"), hRequestHeaders)
		}
	})
}

// varyLists reports whether the Vary lines list name (ASCII case and
// whitespace aside).
func varyLists(h http.Header, name string) bool {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.Trim(f, " \t\n\v\f\r"), name) {
				return true
			}
		}
	}
	return false
}

// FuzzAddVary checks addVary on any existing Vary lines: the lines already
// there are kept as they were, afterwards the header lists the name or
// "*", a second call changes nothing, and a line is added only when
// neither was listed before.
func FuzzAddVary(f *testing.F) {
	for _, s := range [][3]string{
		{"", "", "Origin"}, {"origin", "", "Origin"}, {"Accept-Encoding, *", "", "Origin"},
		{"Accept-Encoding", "ORIGIN ", "Origin"}, {"x-origin", "", "Origin"}, {",,", "\t", "Access-Control-Request-Headers"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, v1, v2, name string) {
		if name == "" || !tokenListRule.MatchString(name) || strings.ContainsAny(name, ", \t") {
			return // callers pass a header name
		}
		if !isASCII(v1) || !isASCII(v2) {
			return // Vary lines come from the application, in ASCII
		}
		h := http.Header{"Vary": {v1, v2}}
		before := varyLists(h, name) || varyLists(h, "*")
		addVary(h, name)
		got := h.Values("Vary")
		if got[0] != v1 || got[1] != v2 {
			t.Fatalf("addVary changed the existing lines %q, %q to %q", v1, v2, got)
		}
		if added := len(got) - 2; before && added != 0 || !before && (added != 1 || got[2] != name) {
			t.Fatalf("addVary(%q) on %q, %q gave %q", name, v1, v2, got)
		}
		if !varyLists(h, name) && !varyLists(h, "*") {
			t.Fatalf("Vary %q lists neither %q nor *", got, name)
		}
		addVary(h, name)
		if again := h.Values("Vary"); len(again) != len(got) {
			t.Fatalf("a second addVary(%q) changed %q to %q", name, got, again)
		}
	})
}

func isASCII(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 })
}
