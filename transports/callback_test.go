package transports

import (
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// callbackRule is the documented rule of validCallback, written as
// sockjs-node writes it (a name is refused if it matches
// /[^a-zA-Z0-9-_.]/), plus "1 to 256 bytes".
var callbackRule = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,256}$`)

func TestValidCallback(t *testing.T) {
	good := []string{"callback", "x", "_jp.a1b2c3", "a.b.c", "A_Z-0.9", "-", "...", strings.Repeat("a", 256)}
	bad := []string{"", "a b", "a(", "a)", "a;b", "a<b", "a>b", "a&b", "a'b", `a"b`, "a/b", `a\b`,
		"a:b", "a=b", "a?b", "a@b", "a[b", "a]b", "a^b", "a`b", "a{b", "a+b", "a,b", "é", "a\x00", "a\n", "a\u2028",
		strings.Repeat("a", 257)}
	for _, s := range good {
		if !validCallback(s) {
			t.Errorf("validCallback(%q) = false; want true", s)
		}
	}
	for _, s := range bad {
		if validCallback(s) {
			t.Errorf("validCallback(%q) = true; want false", s)
		}
	}
}

func TestCheckCallback(t *testing.T) {
	tests := []struct {
		query  string
		ok     bool
		status int
		body   string
	}{
		{"", false, 500, `"callback" parameter required`},
		{"c=", false, 500, `"callback" parameter required`},
		{"d=x", false, 500, `"callback" parameter required`},
		{"c=a%3Cb", false, 500, `invalid "callback" parameter`},
		{"c=alert(1)", false, 500, `invalid "callback" parameter`},
		{"c=%63allback", true, 200, ""},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/a/a/jsonp?"+tt.query, nil)
		if got := checkCallback(w, r); got != tt.ok {
			t.Errorf("%q: checkCallback = %v", tt.query, got)
		}
		if w.Code != tt.status || w.Body.String() != tt.body {
			t.Errorf("%q: answered %d %q; want %d %q", tt.query, w.Code, w.Body.String(), tt.status, tt.body)
		}
		if !tt.ok && w.Header().Get("Content-Type") != "text/plain; charset=UTF-8" {
			t.Errorf("%q: Content-Type %q", tt.query, w.Header().Get("Content-Type"))
		}
	}
}

// FuzzCallbackName checks the validator against its documented rule, and
// that a name it accepts leaves the htmlfile and jsonp envelopes inert: no
// markup, quote, bracket or statement end can come from the name.
func FuzzCallbackName(f *testing.F) {
	for _, s := range []string{"callback", "_jp.abc", "a-b", "", "a<b", "</script>", "x(1);y", "é", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ok := validCallback(name)
		if want := callbackRule.MatchString(name); ok != want {
			t.Fatalf("validCallback(%q) = %v; the rule says %v", name, ok, want)
		}
		if !ok {
			return
		}
		if strings.ContainsAny(name, "<>&'\"()[]{};/\\ \t\r\n=") {
			t.Fatalf("accepted %q, which holds a character that could escape the envelope", name)
		}
		r := httptest.NewRequest("GET", "/a/a/jsonp?c="+url.QueryEscape(name), nil)
		if got := callbackName(r); got != name {
			t.Fatalf("callback %q read back as %q", name, got)
		}
		page := string(htmlfilePrelude(r))
		if strings.Count(strings.ToLower(page), "</script") != 1 || strings.Count(strings.ToLower(page), "<script") != 1 || strings.Contains(page, "<!--") {
			t.Fatalf("htmlfile prelude for %q has extra script tags:\n%s", name, page)
		}
		js := string(jsonpFrame(nil, r, []byte("o")))
		if js != "/**/"+name+`("o");`+"\r\n" {
			t.Fatalf("jsonp frame for %q = %q", name, js)
		}
	})
}
