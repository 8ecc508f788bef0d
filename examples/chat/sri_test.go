package main

import (
	"html"
	"io"
	"net/http"
	"regexp"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

// scriptTag is a script tag as the page writes it: src, and integrity with
// crossorigin when the script's hash is known.
var scriptTag = regexp.MustCompile(`<script src="([^"]*)"(?: integrity="([^"]*)" crossorigin="anonymous")?></script>`)

// The page loads the default sockjs-client with its integrity hash, an
// application's URL with the application's hash, and without one when
// none is given.
func TestPageSRI(t *testing.T) {
	const own, ownHash = "/static/sockjs.min.js", "sha256-Hg830HNmYZawhI/X2A1SUmjVrfR+oexFljLwW7+OH1Q="
	for _, c := range []struct {
		o                      sockjs.Options
		wantURL, wantIntegrity string
	}{
		{sockjs.Options{}, sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity},
		{sockjs.Options{SockJSURL: sockjs.DefaultSockJSURL}, sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity},
		{sockjs.Options{SockJSURL: own, SockJSIntegrity: ownHash}, own, ownHash},
		{sockjs.Options{SockJSURL: own}, own, ""},
	} {
		res, err := http.Get(startChat(t, c.o) + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		m := scriptTag.FindAllStringSubmatch(string(b), -1)
		if len(m) != 1 || html.UnescapeString(m[0][1]) != c.wantURL || html.UnescapeString(m[0][2]) != c.wantIntegrity {
			t.Fatalf("%+v: script tags %q; want src %q, integrity %q", c.o, m, c.wantURL, c.wantIntegrity)
		}
	}
}
