package sockjs_test

import (
	"net/http"
	"testing"
)

// R-CLOSE-1: after the application closed, a new receiver gets the close
// frame, not 2010, and every streaming response ends after its close frame.
func TestProtocolCloseFrameToNewReceiver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/close")
	_, r1 := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
	expectStatus(t, r1, http.StatusOK)
	r1.ExpectChunk(xhrPrelude)
	r1.ExpectChunk("o\n")
	r1.ExpectChunk(frameGoAway + "\n")

	_, r2 := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
	expectStatus(t, r2, http.StatusOK)
	r2.ExpectChunk(xhrPrelude)
	r2.ExpectChunk(frameGoAway + "\n")
	r1.ExpectEnd()
	r2.ExpectEnd()
}

// R-CLOSE-2: a second streaming receiver gets the prelude, then 2010, then
// its response ends; the first is not disturbed.
func TestProtocolCloseAnotherConnectionStreaming(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	_, r1 := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
	r1.ExpectChunk(xhrPrelude)
	r1.ExpectChunk("o\n")

	_, r2 := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
	expectStatus(t, r2, http.StatusOK)
	r2.ExpectChunk(xhrPrelude)
	r2.ExpectChunk(frameAnother + "\n")
	r2.ExpectEnd()

	expectBody(t, f.post(t, base+"/xhr_send", `["x"]`), http.StatusNoContent, "")
	r1.ExpectChunk("a[\"x\"]\n")
}

// R-CLOSE-3: when the attached streaming client goes away, the very next
// receiver (sent at once) gets a new session or 1002, never 2010.
func TestProtocolCloseAbortStreaming(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	c1, r1 := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
	r1.ExpectChunk(xhrPrelude)
	r1.ExpectChunk("o\n")

	_, r2 := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
	r2.ExpectChunk(xhrPrelude)
	r2.ExpectChunk(frameAnother + "\n")
	r2.ExpectEnd()

	c1.Close()
	_, r3 := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
	expectStatus(t, r3, http.StatusOK)
	r3.ExpectChunk(xhrPrelude)
	if got := r3.NextChunk(); got != "o\n" && got != frameInterrupt+"\n" {
		t.Fatalf("after the receiver went away: chunk %q; want %q or %q", got, "o\n", frameInterrupt+"\n")
	}
}

// R-CLOSE-4: the same for an abandoned long-poll.
func TestProtocolCloseAbortPolling(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	waiting, _ := racePolls(t, f, base)
	waiting.Close()
	r3 := f.post(t, base+"/xhr", "")
	expectStatus(t, r3, http.StatusOK)
	if got := r3.Body(); got != "o\n" && got != frameInterrupt+"\n" {
		t.Fatalf("after the receiver went away: body %q; want %q or %q", got, "o\n", frameInterrupt+"\n")
	}
}
