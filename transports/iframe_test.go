package transports

import (
	"net/http/httptest"
	"strconv"
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
	p := NewIframePage(`https://x.example/s.js?a=1&b="2"<`, "", "")
	body := string(p.body)
	if !strings.Contains(body, `<script src="https://x.example/s.js?a=1&amp;b=&#34;2&#34;&lt;"></script>`) {
		t.Fatalf("URL not escaped as an attribute:\n%s", body)
	}
	if q := NewIframePage("/a.js", "", ""); q.ETag() == p.ETag() || q.ETag() == "" || q.ETag()[0] != '"' {
		t.Fatalf("ETags %s and %s", p.ETag(), q.ETag())
	}
	if NewIframePage("/a.js", "", "'self'").ETag() == NewIframePage("/a.js", "", "").ETag() {
		t.Fatalf("the ETag ignores the frame-ancestors header")
	}
}

// The integrity hash, when given, follows src with crossorigin="anonymous",
// escaped as the URL is; without one the tag is the protocol's exactly.
// The ETag changes with the hash, so caches never keep a page whose hash
// no longer matches.
func TestIframePageIntegrity(t *testing.T) {
	const h = "sha384-svdnwiXBL+Js+yUneJSRFy24NgGiOfDM/vkQl/vCeVrcbYD6yW8EwPr1FnxTEZsR"
	p := NewIframePage("https://cdn.example/s.js?a&b", h, "")
	want := `  <script src="https://cdn.example/s.js?a&amp;b" integrity="` + h + `" crossorigin="anonymous"></script>` + "\n"
	if body := string(p.body); !strings.Contains(body, want) || strings.Count(body, "<script") != 2 {
		t.Fatalf("page without the integrity attribute %q:\n%s", want, body)
	}
	if want := strings.Replace(iframeTemplate, "%s", `src="https://cdn.example/s.js?a&amp;b" integrity="`+h+`" crossorigin="anonymous"`, 1); string(p.body) != want {
		t.Fatalf("page is not the template with the script's attributes:\n%s", p.body)
	}
	q := NewIframePage("https://cdn.example/s.js?a&b", "", "")
	if body := string(q.body); !strings.Contains(body, `  <script src="https://cdn.example/s.js?a&amp;b"></script>`+"\n") || strings.Contains(body, "integrity") || strings.Contains(body, "crossorigin") {
		t.Fatalf("page without a hash has integrity or crossorigin:\n%s", body)
	}
	if p.ETag() == q.ETag() || p.ETag() == NewIframePage("https://cdn.example/s.js?a&b", "sha384-x", "").ETag() {
		t.Fatalf("the ETag ignores the integrity hash")
	}
	if r := NewIframePage("/s.js", `x" onload="alert(1)`, ""); !strings.Contains(string(r.body), ` integrity="x&#34; onload=&#34;alert(1)" crossorigin`) {
		t.Fatalf("hash not escaped as an attribute:\n%s", r.body)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "/iframe.html", nil))
	if w.Code != 200 || w.Body.String() != string(p.body) || w.Header().Get("ETag") != p.ETag() || w.Header().Get("Content-Length") != strconv.Itoa(len(p.body)) {
		t.Fatalf("served %d, ETag %q, Content-Length %q:\n%s", w.Code, w.Header().Get("ETag"), w.Header().Get("Content-Length"), w.Body)
	}
}

func TestIframePageConditional(t *testing.T) {
	p := NewIframePage("/a.js", "", "'self'")
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
