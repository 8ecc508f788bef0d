package main

import (
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

// The page loads sockjs-client with its integrity hash and crossorigin
// when the hash is known (the default URL's is), and without both when it
// is not.
func TestPageSRI(t *testing.T) {
	tag := regexp.MustCompile(`<script src="([^"]*)"(?: integrity="([^"]*)" crossorigin="anonymous")?></script>`)
	for _, c := range []sockjs.Options{{}, {SockJSURL: "/s.js?a&b"}, {SockJSURL: "/s.js", SockJSIntegrity: "sha256-Hg830HNmYZawhI/X2A1SUmjVrfR+oexFljLwW7+OH1Q="}} {
		var s script
		s.URL, s.Integrity = c.SockJSScript()
		var b strings.Builder
		if err := page.Execute(&b, s); err != nil {
			t.Fatal(err)
		}
		m := tag.FindAllStringSubmatch(b.String(), -1)
		if len(m) != 1 || html.UnescapeString(m[0][1]) != s.URL || html.UnescapeString(m[0][2]) != s.Integrity {
			t.Fatalf("%+v: script tags %q; want src %q, integrity %q", c, m, s.URL, s.Integrity)
		}
	}
	if _, i := (&sockjs.Options{}).SockJSScript(); i != sockjs.DefaultSockJSIntegrity {
		t.Fatalf("the default URL without its hash: %q", i)
	}
}
