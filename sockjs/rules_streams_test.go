package sockjs_test

// Protocol rules for the eventsource and htmlfile transports (classes
// EventSource and HtmlFile of docs/PROTOCOL-RULES.md), over raw HTTP so
// that chunk boundaries are checked too.

import (
	"net/http"
	"strings"
	"testing"
)

// R-ES-1: headers, the "\r\n" prelude, then one "data: <frame>\r\n\r\n"
// record per chunk; control characters come out as JSON escapes.
func TestEventSourceTransport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	_, r := f.open(t, http.MethodGet, base+"/eventsource", "")
	expectStatus(t, r, http.StatusOK)
	expectContentType(t, r, "text/event-stream;charset=UTF-8")
	expectNotCached(t, r)
	r.ExpectChunk("\r\n")
	r.ExpectChunk("data: o\r\n\r\n")
	expectBody(t, f.post(t, base+"/xhr_send", `["x"]`), http.StatusNoContent, "")
	r.ExpectChunk("data: a[\"x\"]\r\n\r\n")
	expectBody(t, f.post(t, base+"/xhr_send", `["  \u0000\n\r "]`), http.StatusNoContent, "")
	r.ExpectChunk("data: a[\"  \\u0000\\n\\r \"]\r\n\r\n")
}

// R-ES-2: the response limit (4096 on /echo) ends the stream after a frame
// that reaches it; the frame itself goes out whole.
func TestEventSourceResponseLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	_, r := f.open(t, http.MethodGet, base+"/eventsource", "")
	expectStatus(t, r, http.StatusOK)
	r.ExpectChunk("\r\n")
	r.ExpectChunk("data: o\r\n\r\n")
	big := strings.Repeat("x", 4096)
	expectBody(t, f.post(t, base+"/xhr_send", `["`+big+`"]`), http.StatusNoContent, "")
	r.ExpectChunk("data: a[\"" + big + "\"]\r\n\r\n")
	r.ExpectEnd()
}

// The close frame ends an eventsource stream (as R-CLOSE-1 for
// xhr_streaming), and the next request gets it again.
func TestEventSourceClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/close")
	_, r := f.open(t, http.MethodGet, base+"/eventsource", "")
	r.ExpectChunk("\r\n")
	r.ExpectChunk("data: o\r\n\r\n")
	r.ExpectChunk("data: " + frameGoAway + "\r\n\r\n")
	r.ExpectEnd()
	_, r = f.open(t, http.MethodGet, base+"/eventsource", "")
	r.ExpectChunk("\r\n")
	r.ExpectChunk("data: " + frameGoAway + "\r\n\r\n")
	r.ExpectEnd()
}

// Beyond the suite: sockjs-client passes every eventsource record through
// decodeURI, so a '%' in a frame goes out as "%25" (as sockjs-node does).
func TestEventSourceEscapesPercent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	_, r := f.open(t, http.MethodGet, base+"/eventsource", "")
	r.ExpectChunk("\r\n")
	r.ExpectChunk("data: o\r\n\r\n")
	expectBody(t, f.post(t, base+"/xhr_send", `["100% %41 %zz"]`), http.StatusNoContent, "")
	r.ExpectChunk("data: a[\"100%25 %2541 %25zz\"]\r\n\r\n")
}

// htmlfileHead is the page head of R-HTML-1 for the callback "callback".
const htmlfileHead = `<!doctype html>
<html><head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
</head><body><h2>Don't panic!</h2>
  <script>
    document.domain = document.domain;
    var c = parent.callback;
    c.start();
    function p(d) {c.message(d);};
    window.onload = function() {c.stop();};
  </script>`

// htmlfileChunk is the htmlfile envelope of a frame already written as a
// JavaScript string literal.
func htmlfileChunk(js string) string { return "<script>\np(" + js + ");\n</script>\r\n" }

// R-HTML-1: headers; the page head, padded with whitespace past 1 KiB, as
// its own chunk; then one <script> chunk per frame, the frame a JS string.
// Also: "X-Content-Type-Options: nosniff".
func TestHTMLFileTransport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	_, r := f.open(t, http.MethodGet, base+"/htmlfile?c=%63allback", "")
	expectStatus(t, r, http.StatusOK)
	expectContentType(t, r, "text/html;charset=UTF-8")
	expectNotCached(t, r)
	expectHeader(t, r, "X-Content-Type-Options", "nosniff")
	head := r.NextChunk()
	if len(head) <= 1024 {
		t.Fatalf("page head is %d bytes; want more than 1024", len(head))
	}
	if got := strings.TrimSpace(head); got != htmlfileHead {
		t.Fatalf("page head, trimmed:\n%s\nwant:\n%s", got, htmlfileHead)
	}
	if pad := head[len(htmlfileHead):]; strings.Trim(pad, " ") != "\r\n\r\n" || !strings.HasSuffix(pad, "\r\n\r\n") {
		t.Fatalf("padding %q; want spaces and \\r\\n\\r\\n", pad)
	}
	r.ExpectChunk(htmlfileChunk(`"o"`))
	expectBody(t, f.post(t, base+"/xhr_send", `["x"]`), http.StatusNoContent, "")
	r.ExpectChunk(htmlfileChunk(`"a[\"x\"]"`))
}

// R-HTML-2 (and C-7): no callback → 500 "callback" parameter required,
// before any session is created; an invalid one likewise.
func TestHTMLFileCallbackRequired(t *testing.T) {
	t.Parallel()
	callbackErrors(t, "htmlfile")
}

// callbackErrors checks the callback validation of transport (htmlfile or
// jsonp): 500 with the protocol's text, and no session created.
func callbackErrors(t *testing.T, transport string) {
	f := newFixture(t)
	for _, tt := range []struct{ query, want string }{
		{"", `"callback" parameter required`},
		{"?c=", `"callback" parameter required`},
		{"?d=callback", `"callback" parameter required`},
		{"?c=a%3Cb", `invalid "callback" parameter`},
		{"?c=alert(1)", `invalid "callback" parameter`},
		{"?c=x%3By", `invalid "callback" parameter`},
		{"?c=%3C%2Fscript%3E", `invalid "callback" parameter`},
	} {
		base := sessionBase("/echo")
		r := f.get(t, base+"/"+transport+tt.query)
		expectBodyContains(t, r, http.StatusInternalServerError, tt.want)
		expectContentType(t, r, "text/plain;charset=UTF-8")
		// No session: a send to it is refused, where it would be accepted by
		// a session the failed request had created.
		expect404(t, f.post(t, base+"/xhr_send", `["x"]`))
	}
	// The suite's fixed name (C-7): /a/a must still be new afterwards.
	expectBodyContains(t, f.get(t, "/echo/a/a/"+transport), http.StatusInternalServerError, `"callback" parameter required`)
	expect404(t, f.post(t, "/echo/a/a/xhr_send", `["x"]`))
}

// R-HTML-3: the response limit on htmlfile.
func TestHTMLFileResponseLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	_, r := f.open(t, http.MethodGet, base+"/htmlfile?c=callback", "")
	expectStatus(t, r, http.StatusOK)
	if p := r.NextChunk(); p == "" {
		t.Fatal("empty prelude")
	}
	r.ExpectChunk(htmlfileChunk(`"o"`))
	big := strings.Repeat("x", 4096)
	expectBody(t, f.post(t, base+"/xhr_send", `["`+big+`"]`), http.StatusNoContent, "")
	r.ExpectChunk(htmlfileChunk(`"a[\"` + big + `\"]"`))
	r.ExpectEnd()
}

// Markup in messages stays inert in htmlfile chunks: the JS string escapes
// <, >, & and ' (sockjs-node 0.3 sent them raw, so "</script>" ended the
// block and what followed ran in the server's origin).
func TestHTMLFileMarkupIsInert(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	_, r := f.open(t, http.MethodGet, base+"/htmlfile?c=callback", "")
	r.NextChunk()
	r.ExpectChunk(htmlfileChunk(`"o"`))
	expectBody(t, f.post(t, base+"/xhr_send", `["</script><script>alert(1)</script><!-- & '"]`), http.StatusNoContent, "")
	r.ExpectChunk(htmlfileChunk(`"a[\"\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e\u003c!-- \u0026 \u0027\"]"`))
}
