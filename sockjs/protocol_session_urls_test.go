package sockjs_test

import (
	"net/http"
	"testing"
)

// R-SESS-1: any non-empty id without a dot is a valid server and session
// id; the last case keeps %20 encoded on the wire.
func TestProtocolSessionURLsAnyValue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, part := range []string{"/a/a", "/_/_", "/1/1", "/abcdefgh_i-j%20/abcdefg_i-j%20"} {
		t.Run(part, func(t *testing.T) {
			t.Parallel()
			expectBody(t, f.post(t, "/echo"+part+"/xhr", ""), http.StatusOK, "o\n")
		})
	}
}

// R-SESS-2: empty ids, ids with a dot and wrong segment counts are 404 for
// GET and POST alike, with no redirect to a cleaned path.
func TestProtocolSessionURLsInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, part := range []string{"//", "/a./a", "/a/a.", "/./.", "/", "///"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(method+part, func(t *testing.T) {
				t.Parallel()
				expect404(t, f.do(t, method, "/echo"+part+"/xhr", ""))
			})
		}
	}
}

// R-SESS-3: only the session id names a session; the server id is ignored.
func TestProtocolSessionURLsIgnoreServerID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sid := newSID()
	expectBody(t, f.post(t, "/echo/000/"+sid+"/xhr", ""), http.StatusOK, "o\n")
	expectBody(t, f.post(t, "/echo/000/"+sid+"/xhr_send", `["a"]`), http.StatusNoContent, "")
	expectBody(t, f.post(t, "/echo/999/"+sid+"/xhr", ""), http.StatusOK, "a[\"a\"]\n")
}
