package sockjs_test

// Protocol rules for the iframe page (class IframePage of
// docs/PROTOCOL-RULES.md).

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

// iframeRe is the suite's check of the page body, whitespace trimmed.
var iframeRe = regexp.MustCompile(`^<!DOCTYPE html>
<html>
<head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
  <script>
    document.domain = document.domain;
    _sockjs_onload = function\(\)\{SockJS.bootstrap_iframe\(\);\};
  </script>
  <script src="([^"]*)"></script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>$`)

// expectIframe checks "iframe-ok" (R-IFRAME-1) and returns the ETag. With
// wantIntegrity the script tag must carry it, and crossorigin, after src:
// the page is the suite's with those two attributes added, and nothing
// else. Without it the page is the suite's exactly, so a SockJSURL without
// a hash gives the page the protocol's suite checks.
func expectIframe(t *testing.T, r *response, wantURL, wantIntegrity string) string {
	t.Helper()
	expectStatus(t, r, http.StatusOK)
	expectContentType(t, r, "text/html;charset=UTF-8")
	cc := single(t, r, "Cache-Control")
	if !strings.Contains(cc, "public") || !maxAgeRe.MatchString(cc) {
		t.Fatalf("%s: Cache-Control %q; want public, max-age >= 1000000", r.what, cc)
	}
	if single(t, r, "Expires") == "" {
		t.Fatalf("%s: no Expires", r.what)
	}
	etag := single(t, r, "ETag")
	if etag == "" || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
		t.Fatalf("%s: ETag %q; want a strong, quoted one", r.what, etag)
	}
	expectNoHeader(t, r, "Last-Modified")
	expectNoCookie(t, r)
	body := strings.TrimSpace(r.Body())
	if wantIntegrity != "" {
		attrs := ` integrity="` + wantIntegrity + `" crossorigin="anonymous"`
		before, after, ok := strings.Cut(body, attrs+"></script>")
		if !ok {
			t.Fatalf("%s: no script tag ending in %s:\n%s", r.what, attrs, body)
		}
		body = before + "></script>" + after
	}
	m := iframeRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s: body is not the iframe page:\n%s", r.what, r.Body())
	}
	if m[1] != wantURL || !(strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "http")) {
		t.Fatalf("%s: sockjs-client URL %q; want %q", r.what, m[1], wantURL)
	}
	return etag
}

// R-IFRAME-1, R-IFRAME-2, R-IFRAME-3: the page, at every versioned name,
// query strings ignored; R-IFRAME-5: all with the same ETag.
func TestIframePage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	etag := expectIframe(t, f.get(t, "/echo/iframe.html"), sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity)
	for _, p := range []string{
		"/iframe.html", "/iframe-a.html", "/iframe-.html", "/iframe-0.1.2.html", "/iframe-0.1.2abc-dirty.2144.html",
		"/iframe-a.html?t=1234", "/iframe-0.1.2.html?t=123414", "/iframe-0.1.2abc-dirty.2144.html?t=qweqweq123",
	} {
		if got := expectIframe(t, f.get(t, "/echo"+p), sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity); got != etag {
			t.Fatalf("%s: ETag %s; want %s as for /iframe.html", p, got, etag)
		}
	}
}

// R-IFRAME-4: malformed names are 404.
func TestIframePageNames(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, p := range []string{"/iframe.htm", "/iframe", "/IFRAME.HTML", "/IFRAME", "/iframe.HTML", "/iframe.xml", "/iframe-/.html"} {
		expect404(t, f.get(t, "/echo"+p))
	}
}

// R-IFRAME-6: If-None-Match with the ETag gives 304 without Content-Type
// or body.
func TestIframePageNotModified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	etag := expectIframe(t, f.get(t, "/echo/iframe.html"), sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity)
	r := f.get(t, "/echo/iframe.html", "If-None-Match: "+etag)
	expectStatus(t, r, http.StatusNotModified)
	expectNoHeader(t, r, "Content-Type")
	if b := r.Body(); b != "" {
		t.Fatalf("304 with body %q", b)
	}
	expectHeader(t, r, "ETag", etag)
	expectIframe(t, f.get(t, "/echo/iframe.html", `If-None-Match: "other"`), sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity)
}

// Options.SockJSURL goes into the page, escaped for its attribute; the
// page may be framed only by the origins the policy allows.
func TestIframePageOptions(t *testing.T) {
	t.Parallel()
	f := newOptionsFixture(t, sockjs.Options{
		SockJSURL:      "/static/sockjs.js?v=1&x=<y>",
		AllowedOrigins: []string{"https://app.example.com"},
	})
	expectIframe(t, f.get(t, "/x/iframe.html"), "/static/sockjs.js?v=1&amp;x=&lt;y&gt;", "")
	expectHeader(t, f.get(t, "/x/iframe.html"), "Content-Security-Policy", "frame-ancestors 'self' https://app.example.com")
	expect405(t, f.post(t, "/x/iframe.html", ""))
	for _, bad := range []string{"javascript:alert(1)", "sockjs.js", "ftp://x/s.js", "https:///s.js"} {
		o := sockjs.Options{SockJSURL: bad}
		if err := o.Validate(); err == nil {
			t.Errorf("SockJSURL %q accepted", bad)
		}
	}
}
