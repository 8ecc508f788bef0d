package sockjs_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

// R-XHR-1: preflight on xhr and xhr_send, even for a session that does not
// exist (and is not created by it).
func TestProtocolXhrOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sid := newSID()
	expectOptions(t, f, "/echo/abc/"+sid+"/xhr", "OPTIONS, POST")
	expectOptions(t, f, "/echo/abc/"+sid+"/xhr_send", "OPTIONS, POST")
	expect404(t, f.post(t, "/echo/abc/"+sid+"/xhr_send", `["a"]`)) // not created
}

// R-XHR-2: the first poll of a new session.
func TestProtocolXhrTransport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	r := f.post(t, base+"/xhr", "")
	expectBody(t, r, http.StatusOK, "o\n")
	expectContentType(t, r, "application/javascript;charset=UTF-8")
	expectCORS(t, r, "") // DEVIATION (2)
	expectNotCached(t, r)

	// R-XHR-3: xhr_send answers 204 with a Content-Type.
	r = f.post(t, base+"/xhr_send", `["x"]`)
	expectBody(t, r, http.StatusNoContent, "")
	expectContentType(t, r, "text/plain;charset=UTF-8")
	expectCORS(t, r, "")
	expectNotCached(t, r)
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "a[\"x\"]\n")
}

// R-XHR-4: xhr_send to a session never opened.
func TestProtocolXhrSendUnknownSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	expect404(t, f.post(t, sessionBase("/echo")+"/xhr_send", `["x"]`))
}

// R-XHR-5: bad payloads are 500 and leave the session as it was.
func TestProtocolXhrInvalidPayload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	expectBodyContains(t, f.post(t, base+"/xhr_send", `["x`), http.StatusInternalServerError, "Broken JSON encoding.")
	expectBodyContains(t, f.post(t, base+"/xhr_send", ""), http.StatusInternalServerError, "Payload expected.")
	expectBody(t, f.post(t, base+"/xhr_send", `["a"]`), http.StatusNoContent, "")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "a[\"a\"]\n")
}

// R-XHR-6: xhr_send ignores the request's Content-Type; messages queued
// between polls come in one frame.
func TestProtocolXhrContentTypes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	cts := []string{"text/plain", "T", "application/json", "application/xml", "",
		"application/json; charset=utf-8", "text/xml; charset=utf-8", "text/xml"}
	for _, ct := range cts {
		r := f.post(t, base+"/xhr_send", `["a"]`, "Content-Type: "+ct)
		expectBody(t, r, http.StatusNoContent, "")
	}
	// The echo service answers each message from its own goroutine, so a
	// poll may come before the last echo is queued: gather until all eight
	// are in. That everything queued goes in one frame is checked
	// deterministically by TestProtocolXhrBatching.
	msgs, frames := pollMessages(t, f, base, len(cts))
	for i, m := range msgs {
		if m != "a" {
			t.Fatalf("message %d = %q; want \"a\"", i, m)
		}
	}
	if frames > 1 {
		t.Logf("the eight echoes came in %d frames (the echo lagged behind the poll)", frames)
	}
}

// R-XHR-7: Access-Control-Request-Headers is reflected on xhr.
func TestProtocolXhrRequestHeadersCORS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.post(t, sessionBase("/echo")+"/xhr", "", "Access-Control-Request-Headers: a, b, c")
	expectBody(t, r, http.StatusOK, "o\n")
	expectCORS(t, r, "")
	expectHeader(t, r, "Access-Control-Allow-Headers", "a, b, c")

	r = f.post(t, sessionBase("/echo")+"/xhr", "", "Access-Control-Request-Headers: ")
	expectBody(t, r, http.StatusOK, "o\n")
	expectCORS(t, r, "")
	expectNoHeader(t, r, "Access-Control-Allow-Headers")

	r = f.post(t, sessionBase("/echo")+"/xhr", "")
	expectBody(t, r, http.StatusOK, "o\n")
	expectCORS(t, r, "")
	expectNoHeader(t, r, "Access-Control-Allow-Headers")

	// Not a list of header names (found by FuzzReflectedRequestHeaders):
	// not echoed, as a preflight would not echo it either.
	r = f.post(t, sessionBase("/echo")+"/xhr", "", "Access-Control-Request-Headers: a;b=<script>")
	expectBody(t, r, http.StatusOK, "o\n")
	expectNoHeader(t, r, "Access-Control-Allow-Headers")
}

// R-XHR-6, the batching half made deterministic: every message the
// application queued before a poll comes in that poll's one "a" frame,
// comma-separated without spaces. (The echo service answers each message
// from its own goroutine, so over /echo a poll may come before the last
// echo is queued; here the application says when it has queued them.)
func TestProtocolXhrBatching(t *testing.T) {
	t.Parallel()
	queued := make(chan struct{})
	f := newAppFixture(t, sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		if _, err := s.Recv(ctx); err != nil {
			return
		}
		for range 8 {
			_ = s.Send("a")
		}
		close(queued)
		<-ctx.Done()
	})
	base := sessionBase("/app")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	expectBody(t, f.post(t, base+"/xhr_send", `["go"]`), http.StatusNoContent, "")
	waitFor(t, queued, "the application to queue its messages")
	want := "a[" + strings.Repeat(`"a",`, 7) + `"a"]` + "\n"
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, want)
}
