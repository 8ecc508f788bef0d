package sockjs_test

// Protocol rules for jsonp polling and jsonp_send (class JsonPolling of
// docs/PROTOCOL-RULES.md).
//
// DEVIATION (3) from the 0.3.3 suite: every jsonp body starts with "/**/"
// (`/**/callback("o");` where the suite wants `callback("o");`), so that
// a response never starts with bytes the requester chose; see package
// transports. The expected bodies below say so through jsonpBody.

import (
	"net/http"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

const formType = "Content-Type: application/x-www-form-urlencoded"

// jsonpBody is the jsonp envelope of a frame already written as a
// JavaScript string literal.
func jsonpBody(callback, js string) string { return "/**/" + callback + "(" + js + ");\r\n" }

// R-JSONP-1: the polling response, then a form post answered 200 "ok",
// then the message in the next poll. Also: nosniff on both.
func TestJSONPTransport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	r := f.get(t, base+"/jsonp?c=%63allback")
	expectBody(t, r, http.StatusOK, jsonpBody("callback", `"o"`))
	expectContentType(t, r, "application/javascript;charset=UTF-8")
	expectNotCached(t, r)
	expectHeader(t, r, "X-Content-Type-Options", "nosniff")

	r = f.post(t, base+"/jsonp_send", "d=%5B%22x%22%5D", formType)
	expectBody(t, r, http.StatusOK, "ok")
	expectContentType(t, r, "text/plain;charset=UTF-8")
	expectNotCached(t, r)

	expectBody(t, f.get(t, base+"/jsonp?c=%63allback"), http.StatusOK, jsonpBody("callback", `"a[\"x\"]"`))
}

// R-JSONP-2 (and C-7): no callback → 500 before any session is created;
// an invalid one likewise.
func TestJSONPCallbackRequired(t *testing.T) {
	t.Parallel()
	callbackErrors(t, "jsonp")
}

// R-JSONP-3: broken and empty payloads are refused with the protocol's
// texts, and the session survives them.
func TestJSONPBadPayloads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.get(t, base+"/jsonp?c=x"), http.StatusOK, jsonpBody("x", `"o"`))
	expectBodyContains(t, f.post(t, base+"/jsonp_send", "d=%5B%22x", formType), http.StatusInternalServerError, "Broken JSON encoding.")
	expectBodyContains(t, f.post(t, base+"/jsonp_send", "d=%zz", formType), http.StatusInternalServerError, "Broken JSON encoding.")
	for _, body := range []string{"", "d=", "p=p"} {
		expectBodyContains(t, f.post(t, base+"/jsonp_send", body, formType), http.StatusInternalServerError, "Payload expected.")
	}
	expectBody(t, f.post(t, base+"/jsonp_send", "d=%5B%22b%22%5D", formType), http.StatusOK, "ok")
	expectBody(t, f.get(t, base+"/jsonp?c=x"), http.StatusOK, jsonpBody("x", `"a[\"b\"]"`))
}

// R-JSONP-4: a form field d and a raw body are both accepted; the raw body
// is not URL-decoded.
func TestJSONPSendEncodings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.get(t, base+"/jsonp?c=x"), http.StatusOK, jsonpBody("x", `"o"`))
	expectBody(t, f.post(t, base+"/jsonp_send", "d=%5B%22abc%22%5D", formType), http.StatusOK, "ok")
	expectBody(t, f.post(t, base+"/jsonp_send", `["%61bc"]`, "Content-Type: text/plain"), http.StatusOK, "ok")
	expectBody(t, f.get(t, base+"/jsonp?c=x"), http.StatusOK, jsonpBody("x", `"a[\"abc\",\"%61bc\"]"`))
}

// R-JSONP-5: on /close, the open frame, then the close frame on every
// later poll.
func TestJSONPClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/close")
	expectBody(t, f.get(t, base+"/jsonp?c=x"), http.StatusOK, jsonpBody("x", `"o"`))
	expectBody(t, f.get(t, base+"/jsonp?c=x"), http.StatusOK, jsonpBody("x", `"c[3000,\"Go away!\"]"`))
	expectBody(t, f.get(t, base+"/jsonp?c=x"), http.StatusOK, jsonpBody("x", `"c[3000,\"Go away!\"]"`))
}

// jsonp_send to a session that does not exist is 404 and creates nothing
// (as R-PROTO-2 for xhr_send).
func TestJSONPSendUnknownSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expect404(t, f.post(t, base+"/jsonp_send", "d=%5B%22x%22%5D", formType))
	expect404(t, f.post(t, base+"/jsonp_send", "d=%5B%22x%22%5D", formType))
}

// Markup in messages stays inert in jsonp responses, and the callback name
// is the only thing the requester chooses in the body.
func TestJSONPMarkupIsInert(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.get(t, base+"/jsonp?c=_jp.a1-b"), http.StatusOK, jsonpBody("_jp.a1-b", `"o"`))
	expectBody(t, f.post(t, base+"/jsonp_send", `["</script><!-- \"); alert(1); (\""]`, "Content-Type: text/plain"), http.StatusOK, "ok")
	expectBody(t, f.get(t, base+"/jsonp?c=_jp.a1-b"), http.StatusOK,
		jsonpBody("_jp.a1-b", `"a[\"\u003c/script\u003e\u003c!-- \\\"); alert(1); (\\\"\"]"`))
}

// The jsonp endpoints go where no Origin check can follow (a <script> tag
// sends none), so with restricted origins they need Options.AllowJSONP;
// DisableJSONP turns them off in any case.
func TestJSONPOriginPolicy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		opts   sockjs.Options
		status int
	}{
		{"restricted", sockjs.Options{}, http.StatusForbidden},
		{"restricted+AllowJSONP", sockjs.Options{AllowJSONP: true}, http.StatusOK},
		{"AllowAnyOrigin", sockjs.Options{AllowAnyOrigin: true}, http.StatusOK},
		{"DisableCORS", sockjs.Options{DisableCORS: true}, http.StatusOK},
		{"DisableJSONP", sockjs.Options{AllowAnyOrigin: true, AllowJSONP: true, DisableJSONP: true}, http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newOptionsFixture(t, tt.opts)
			base := sessionBase("/x")
			r := f.get(t, base+"/jsonp?c=cb")
			expectStatus(t, r, tt.status)
			send := f.post(t, base+"/jsonp_send", `["x"]`)
			if tt.status == http.StatusOK {
				expectBody(t, send, http.StatusOK, "ok")
			} else {
				expectStatus(t, send, tt.status)
			}
		})
	}
}
