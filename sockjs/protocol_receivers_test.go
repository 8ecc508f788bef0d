package sockjs_test

import (
	"net/http"
	"strconv"
	"testing"
)

// A second receiver gets 2010 while the first keeps going, and the first
// still receives afterwards. With a streaming first receiver the order is
// known (its "o" frame shows it attached): a second xhr_streaming gets the
// prelude, 2010 and its end; a poll gets 2010 at once; then the first
// receives every later message.
func TestProtocolSecondReceiverStreaming(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	_, r1 := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
	r1.ExpectChunk(xhrPrelude)
	r1.ExpectChunk("o\n")

	for i := range 3 {
		_, r2 := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
		r2.ExpectChunk(xhrPrelude)
		r2.ExpectChunk(frameAnother + "\n")
		r2.ExpectEnd()
		expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, frameAnother+"\n")

		msg := `["m` + strconv.Itoa(i) + `"]`
		expectBody(t, f.post(t, base+"/xhr_send", msg), http.StatusNoContent, "")
		r1.ExpectChunk("a" + msg + "\n")
	}
}

// The same with a long-poll as the first receiver (see racePolls).
func TestProtocolSecondReceiverPolling(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := sessionBase("/echo")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
	_, first := racePolls(t, f, base)
	expectBody(t, f.post(t, base+"/xhr_send", `["x"]`), http.StatusNoContent, "")
	await(t, first, http.StatusOK, "a[\"x\"]\n")
	// The session is free again: the next poll receives normally.
	expectBody(t, f.post(t, base+"/xhr_send", `["y"]`), http.StatusNoContent, "")
	expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "a[\"y\"]\n")
}

// A client that polls again as soon as a poll returns never sees 2010: the
// receiver is detached before the response can reach the client. Each
// round: a poll is sent (it waits), a message is sent on another
// connection, the poll returns it, and the next round's poll goes out at
// once, on the same keep-alive connection or on a new one.
func TestProtocolImmediateRepoll(t *testing.T) {
	t.Parallel()
	const rounds = 500
	for _, sameConn := range []bool{true, false} {
		name := "new connection"
		if sameConn {
			name = "same keep-alive connection"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			base := sessionBase("/echo")
			sender := dialRaw(t, f.addr)
			poller := dialRaw(t, f.addr)
			expectBody(t, poller.Do(request{Method: http.MethodPost, Path: base + "/xhr"}), http.StatusOK, "o\n")
			for i := range rounds {
				if !sameConn {
					poller.Close()
					poller = dialRaw(t, f.addr)
				}
				poller.Write(request{Method: http.MethodPost, Path: base + "/xhr"})
				msg := `["` + strconv.Itoa(i) + `"]`
				expectBody(t, sender.Do(request{Method: http.MethodPost, Path: base + "/xhr_send", Body: msg}), http.StatusNoContent, "")
				r := poller.ReadResponse("poll " + strconv.Itoa(i))
				expectStatus(t, r, http.StatusOK)
				if got := r.Body(); got != "a"+msg+"\n" {
					t.Fatalf("round %d: poll = %q; want %q", i, got, "a"+msg+"\n")
				}
			}
		})
	}
}
