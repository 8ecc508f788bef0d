package sockjs_test

import (
	"net/http"
	"strings"
	"testing"
)

// xhrPrelude is the first chunk of every xhr_streaming response.
var xhrPrelude = strings.Repeat("h", 2048) + "\n"

// R-XHRS-1: preflight on xhr_streaming.
func TestProtocolXhrStreamingOptions(t *testing.T) {
	t.Parallel()
	expectOptions(t, newFixture(t), "/echo/abc/"+newSID()+"/xhr_streaming", "OPTIONS, POST")
}

// R-XHRS-2: headers, then the prelude, the open frame and each message
// frame, each one its own chunk.
func TestProtocolXhrStreamingTransport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	_, r := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
	expectStatus(t, r, http.StatusOK)
	expectContentType(t, r, "application/javascript;charset=UTF-8")
	expectCORS(t, r, "") // DEVIATION (2)
	expectNotCached(t, r)
	r.ExpectChunk(xhrPrelude)
	r.ExpectChunk("o\n")
	expectBody(t, f.post(t, base+"/xhr_send", `["x"]`), http.StatusNoContent, "")
	r.ExpectChunk("a[\"x\"]\n")
}

// R-XHRS-3: the response ends once 4096 bytes of frames have gone out
// (the prelude not counted); no frame is split or held back.
func TestProtocolXhrStreamingResponseLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	_, r := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
	expectStatus(t, r, http.StatusOK)
	if p := r.NextChunk(); p == "" {
		t.Fatal("empty prelude")
	}
	r.ExpectChunk("o\n")
	msg := strings.Repeat("x", 128)
	for i := range 31 {
		expectBody(t, f.post(t, base+"/xhr_send", `["`+msg+`"]`), http.StatusNoContent, "")
		if got := r.NextChunk(); got != `a["`+msg+"\"]\n" {
			t.Fatalf("message %d: chunk %q; want the 134-byte frame", i+1, abbrev(got))
		}
	}
	r.ExpectEnd() // 2 + 31*134 = 4156 >= 4096
}
