package sockjs_test

// Frame, websocket and multi-request helpers of the protocol tests.

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/sockjs"
)

// ---------------------------------------------------------------------------
// Frames.

// decodeMessages parses an "a[...]" frame (without the transport's
// newline) into its messages. The frame must be valid UTF-8 and valid JSON.
func decodeMessages(t testing.TB, f string) []string {
	t.Helper()
	if !strings.HasPrefix(f, "a[") {
		t.Fatalf("frame %q is not a message frame", abbrev(f))
	}
	var msgs []string
	if err := strictUnmarshal(f[1:], &msgs); err != nil {
		t.Fatalf("frame %q: %v", abbrev(f), err)
	}
	return msgs
}

// strictUnmarshal is json.Unmarshal that also refuses invalid UTF-8 (which
// encoding/json would silently replace with U+FFFD).
func strictUnmarshal(s string, v any) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	return json.Unmarshal([]byte(s), v)
}

// ---------------------------------------------------------------------------
// WebSocket.

// dialWS opens an RFC 6455 WebSocket to path on addr.
func dialWS(t testing.TB, addr, path string, header ...string) *websocket.Conn {
	t.Helper()
	h := http.Header{}
	for _, l := range header {
		k, v, _ := strings.Cut(l, ":")
		h.Add(k, strings.TrimSpace(v))
	}
	d := websocket.Dialer{HandshakeTimeout: ioTimeout}
	conn, resp, err := d.Dial("ws://"+addr+path, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("websocket %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// wsRead reads the next text message within d.
func wsRead(t testing.TB, c *websocket.Conn, d time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	typ, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("websocket: message type %d; want text", typ)
	}
	return string(data)
}

// wsExpect reads the next message and checks it equals want exactly.
func wsExpect(t testing.TB, c *websocket.Conn, want string) {
	t.Helper()
	if got := wsRead(t, c, ioTimeout); got != want {
		t.Fatalf("websocket message %q; want %q", abbrev(got), abbrev(want))
	}
}

// wsSend writes a text message.
func wsSend(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("websocket write: %v", err)
	}
}

// wsExpectClosed checks that the next read within d finds the connection
// closed (a close frame or the TCP connection ending), with no message
// first. Receiving nothing for d is a failure, not a close (C-6).
func wsExpectClosed(t testing.TB, c *websocket.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, data, err := c.ReadMessage()
	if err == nil {
		t.Fatalf("websocket: got message %q; want the connection closed", abbrev(string(data)))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("websocket: not closed within %v", d)
	}
}

// racePolls sends two long-polls for the open session at base, on two
// connections, without waiting in between. Nothing observable tells when a
// hanging poll has attached (the suite sleeps 0.25 s), so the test does not
// guess: exactly one of the two must be answered, within the suite's 1 s,
// with the 2010 frame, and the other must still be waiting. racePolls
// returns the waiting one.
func racePolls(t testing.TB, f *fixture, base string) (*rawConn, <-chan result) {
	t.Helper()
	c1 := dialRaw(t, f.addr)
	c1.Write(request{Method: http.MethodPost, Path: base + "/xhr"})
	ch1 := readAsync(c1, "poll 1")
	c2 := dialRaw(t, f.addr)
	c2.Write(request{Method: http.MethodPost, Path: base + "/xhr"})
	ch2 := readAsync(c2, "poll 2")
	var res result
	var waiting *rawConn
	var waitCh <-chan result
	select {
	case res = <-ch1:
		waiting, waitCh = c2, ch2
	case res = <-ch2:
		waiting, waitCh = c1, ch1
	case <-time.After(suiteTimeout):
		t.Fatalf("two polls of one session: neither answered within %v; want the second answered with %s at once", suiteTimeout, frameAnother)
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	expectBody(t, res.r, http.StatusOK, frameAnother+"\n")
	select {
	case other := <-waitCh:
		t.Fatalf("the first receiver was answered too (%v, %q); want it still waiting", other.err, other.body)
	default:
	}
	return waiting, waitCh
}

// await waits for an async response and checks it.
func await(t testing.TB, ch <-chan result, status int, body string) {
	t.Helper()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatal(res.err)
		}
		expectBody(t, res.r, status, body)
	case <-time.After(ioTimeout):
		t.Fatalf("no response within %v; want %q", ioTimeout, body)
	}
}

// newAppFixture serves app alone at /app (chi Mount) with opts as given
// (plus AllowAnyOrigin); f.echo is its handler.
func newAppFixture(t testing.TB, opts sockjs.Options, app sockjs.HandlerFunc) *fixture {
	t.Helper()
	opts.AllowAnyOrigin = true
	h := sockjs.NewHandler(opts, app)
	r := chi.NewRouter()
	r.Mount("/app", h)
	f := &fixture{echo: h}
	f.srv = startServer(t, r, h)
	f.addr = f.srv.Listener.Addr().String()
	return f
}

// pollMessages polls base/xhr until n messages have come, and returns them
// and the number of frames they came in.
func pollMessages(t testing.TB, f *fixture, base string, n int) (msgs []string, frames int) {
	t.Helper()
	for len(msgs) < n {
		r := f.post(t, base+"/xhr", "")
		expectStatus(t, r, http.StatusOK)
		body := r.Body()
		if !strings.HasSuffix(body, "\n") {
			t.Fatalf("poll body %q does not end in a newline", abbrev(body))
		}
		msgs = append(msgs, decodeMessages(t, strings.TrimSuffix(body, "\n"))...)
		frames++
	}
	if len(msgs) != n {
		t.Fatalf("got %d messages; want %d", len(msgs), n)
	}
	return msgs, frames
}

// waitFor waits for ch to be closed (or to deliver), failing after
// ioTimeout.
func waitFor[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(ioTimeout):
		t.Fatalf("timed out after %v waiting for %s", ioTimeout, what)
	}
}

// collect reads messages for the session at base over transport ("xhr",
// "xhr_streaming" or "websocket") until it has n, opening the session
// first: polls and streams reconnect as a client would (a streaming
// response ends at the response limit). A close frame fails the test.
func collect(t testing.TB, f *fixture, transport, base string, n int) []string {
	t.Helper()
	var msgs []string
	switch transport {
	case "xhr":
		expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
		msgs, _ = pollMessages(t, f, base, n)
	case "xhr_streaming":
		opened := false
		for responses := 0; len(msgs) < n; responses++ {
			if responses > 10000 {
				t.Fatalf("%d messages after %d responses; want %d", len(msgs), responses, n)
			}
			c, r := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
			expectStatus(t, r, http.StatusOK)
			r.ExpectChunk(strings.Repeat("h", 2048) + "\n")
			for len(msgs) < n {
				ch, ok := r.Chunk()
				if !ok {
					break // the response limit: reconnect
				}
				switch {
				case ch == "o\n" && !opened:
					opened = true
				case ch == "h\n":
				case strings.HasPrefix(ch, "a[") && strings.HasSuffix(ch, "\n"):
					msgs = append(msgs, decodeMessages(t, strings.TrimSuffix(ch, "\n"))...)
				default:
					t.Fatalf("after %d messages: unexpected chunk %q", len(msgs), abbrev(ch))
				}
			}
			c.Close()
		}
	case "websocket":
		ws := dialWS(t, f.addr, base+"/websocket")
		wsExpect(t, ws, frameOpen)
		for len(msgs) < n {
			m := wsRead(t, ws, ioTimeout)
			if m == "h" {
				continue
			}
			msgs = append(msgs, decodeMessages(t, m)...)
		}
		_ = ws.Close()
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	if len(msgs) != n {
		t.Fatalf("got %d messages; want %d", len(msgs), n)
	}
	return msgs
}
