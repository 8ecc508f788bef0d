package transports

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIsIframePath(t *testing.T) {
	for _, p := range []string{"/iframe.html", "/iframe-a.html", "/iframe-.html", "/iframe-0.1.2.html", "/iframe-0.1.2abc-dirty.2144.html", "/iframe_x.html", "/iframe..html"} {
		if !IsIframePath(p) {
			t.Errorf("IsIframePath(%q) = false", p)
		}
	}
	for _, p := range []string{"/iframe.htm", "/iframe", "/IFRAME.HTML", "/IFRAME", "/iframe.HTML", "/iframe.xml", "/iframe-/.html", "/iframe-A.html", "iframe.html", "/iframe.html/", "/x/iframe.html", "/iframe%2F.html"} {
		if IsIframePath(p) {
			t.Errorf("IsIframePath(%q) = true", p)
		}
	}
}

func TestIframePageEscapesTheURL(t *testing.T) {
	p := NewIframePage(`https://x.example/s.js?a=1&b="2"<`, "")
	body := string(p.body)
	if !strings.Contains(body, `<script src="https://x.example/s.js?a=1&amp;b=&#34;2&#34;&lt;"></script>`) {
		t.Fatalf("URL not escaped as an attribute:\n%s", body)
	}
	if q := NewIframePage("/a.js", ""); q.ETag() == p.ETag() || q.ETag() == "" || q.ETag()[0] != '"' {
		t.Fatalf("ETags %s and %s", p.ETag(), q.ETag())
	}
	if NewIframePage("/a.js", "'self'").ETag() == NewIframePage("/a.js", "").ETag() {
		t.Fatalf("the ETag ignores the frame-ancestors header")
	}
}

func TestIframePageConditional(t *testing.T) {
	p := NewIframePage("/a.js", "'self'")
	for _, tt := range []struct {
		inm  string
		want int
	}{
		{"", 200}, {p.ETag(), 304}, {"W/" + p.ETag(), 304}, {`"x", ` + p.ETag(), 304}, {"*", 304}, {`"x"`, 200},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/iframe.html", nil)
		if tt.inm != "" {
			r.Header.Set("If-None-Match", tt.inm)
		}
		p.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("If-None-Match %q: status %d; want %d", tt.inm, w.Code, tt.want)
		}
		if got := w.Header().Get("Content-Security-Policy"); got != "frame-ancestors 'self'" {
			t.Errorf("CSP %q", got)
		}
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("POST", "/iframe.html", nil))
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
}
