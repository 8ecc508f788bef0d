package transports

import (
	"crypto/sha256"
	"encoding/hex"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// iframeTemplate is the iframe page of the SockJS protocol, byte for byte,
// with %s where the sockjs-client script tag's attributes go: src alone
// gives the page of the protocol's test suite exactly; integrity and
// crossorigin follow src when the script's hash is known.
const iframeTemplate = `<!DOCTYPE html>
<html>
<head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
  <script>
    document.domain = document.domain;
    _sockjs_onload = function(){SockJS.bootstrap_iframe();};
  </script>
  <script %s></script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>`

// iframeMaxAge is how long browsers and caches may keep the page: one year.
const iframeMaxAge = 365 * 24 * time.Hour

// IframePage is the page at {prefix}/iframe.html (and every
// /iframe-<version>.html): a hidden page on the server's origin that loads
// sockjs-client and lets a page of another origin use the transports that
// cannot cross origins (htmlfile, and eventsource and xhr where CORS is
// missing) through postMessage. It is rendered once; responses carry a
// strong ETag and may be cached for a year, so a new client URL should
// come with a new versioned page name, as sockjs-client asks for
// /iframe-<its version>.html.
type IframePage struct {
	body           []byte
	etag           string
	frameAncestors string
}

// NewIframePage renders the page that loads sockjs-client from sockjsURL.
// integrity, unless empty, is the script's Subresource Integrity metadata
// ("sha384-<base64 digest>"): the tag then carries integrity="..." and
// crossorigin="anonymous", and browsers run the script only if its bytes
// have that hash (a cross-origin script must then be served with CORS
// headers, as public CDNs do). Both values are escaped for the HTML
// attributes they go in; the caller checks their form. frameAncestors,
// unless empty, is sent as a Content-Security-Policy "frame-ancestors"
// directive, which decides which pages may embed the iframe and so use
// the server through it. The ETag is a hash of all three, so a page whose
// URL or hash changes gets a new ETag.
func NewIframePage(sockjsURL, integrity, frameAncestors string) *IframePage {
	body := []byte(strings.Replace(iframeTemplate, "%s", scriptAttrs(sockjsURL, integrity), 1))
	sum := sha256.New()
	sum.Write(body)
	sum.Write([]byte{0})
	sum.Write([]byte(frameAncestors))
	return &IframePage{
		body:           body,
		etag:           `"` + hex.EncodeToString(sum.Sum(nil)[:16]) + `"`,
		frameAncestors: frameAncestors,
	}
}

// scriptAttrs returns the attributes of the iframe page's script tag.
func scriptAttrs(src, integrity string) string {
	a := `src="` + html.EscapeString(src) + `"`
	if integrity != "" {
		a += ` integrity="` + html.EscapeString(integrity) + `" crossorigin="anonymous"`
	}
	return a
}

// IsIframePath reports whether p, a path below the handler's prefix, names
// the iframe page: /iframe.html or /iframe<suffix>.html, where the suffix
// has only lower-case letters, digits, '.', '_' and '-' (the pattern
// ^/iframe[0-9a-z._-]*\.html$). Matching is case-sensitive.
func IsIframePath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/iframe")
	if !ok {
		return false
	}
	mid, ok := strings.CutSuffix(rest, ".html")
	if !ok {
		return false
	}
	for i := 0; i < len(mid); i++ {
		c := mid[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ETag returns the page's strong entity tag, quoted.
func (p *IframePage) ETag() string { return p.etag }

// ServeHTTP serves the page to GET and HEAD, with 304 Not Modified (no
// body, no Content-Type) when If-None-Match names its ETag. Other methods
// get 405. The response never sets a cookie.
func (p *IframePage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(iframeMaxAge/time.Second)))
	h.Set("Expires", time.Now().Add(iframeMaxAge).UTC().Format(http.TimeFormat))
	h.Set("ETag", p.etag)
	if p.frameAncestors != "" {
		h.Set("Content-Security-Policy", "frame-ancestors "+p.frameAncestors)
	}
	if etagListed(r.Header.Values("If-None-Match"), p.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(p.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(p.body)
	}
}

// etagListed reports whether If-None-Match values name etag (or are "*").
// If-None-Match compares weakly: W/"x" matches "x".
func etagListed(values []string, etag string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}
