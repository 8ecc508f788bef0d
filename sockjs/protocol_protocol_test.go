package sockjs_test

import (
	"net/http"
	"testing"
)

// R-PROTO-1: a new session over xhr: open, send, receive.
func TestProtocolSimpleSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	expectBody(t, f.post(t, base+"/xhr_send", `["a"]`), http.StatusNoContent, "")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "a[\"a\"]\n")
}

// R-PROTO-2: sending to an unknown session is 404 and does not create it.
func TestProtocolSendUnknownSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	expect404(t, f.post(t, "/echo/000/bad_session/xhr_send", `["a"]`))
	expect404(t, f.post(t, "/echo/000/bad_session/xhr_send", `["a"]`)) // still unknown
	// It was not created: the first poll opens it.
	expectBody(t, f.post(t, "/echo/000/bad_session/xhr", ""), http.StatusOK, "o\n")
}

// R-PROTO-3: one receiver per session; a second one is answered at once
// with 2010 and the first goes on (see racePolls).
func TestProtocolOneReceiver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	expectBody(t, f.post(t, base+"/xhr_send", `["a"]`), http.StatusNoContent, "")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "a[\"a\"]\n")
	first, _ := racePolls(t, f, base)
	first.Close() // the suite drops the first receiver; nothing more is asserted
}

// R-PROTO-4: on /close the first poll gets only the open frame, then every
// later poll gets the close frame again.
func TestProtocolCloseSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/close")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, frameGoAway+"\n")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, frameGoAway+"\n")
}
