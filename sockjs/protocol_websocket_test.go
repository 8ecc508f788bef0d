package sockjs_test

import (
	"net/http"
	"strings"
	"testing"
)

// The RFC 6455 parts of the suite's WebsocketHixie76 class (R-WS76-1..4
// and 6; R-WS76-5 is the Hixie-76 handshake itself, which no RFC 6455
// server speaks) and its WebsocketHybi10 class (R-WS-1..5).

// R-WS76-1: open frame, then an echo; SockJS frames over websocket have no
// trailing newline.
func TestProtocolWebsocketTransport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ws := dialWS(t, f.addr, sessionBase("/echo")+"/websocket")
	wsExpect(t, ws, frameOpen)
	wsSend(t, ws, `["a"]`)
	wsExpect(t, ws, `a["a"]`)
}

// R-WS76-2 and R-WS-2: on /close, the open frame, the close frame, then
// the connection is closed within the suite's second.
func TestProtocolWebsocketClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ws := dialWS(t, f.addr, sessionBase("/close")+"/websocket")
	wsExpect(t, ws, frameOpen)
	wsExpect(t, ws, frameGoAway)
	wsExpectClosed(t, ws, suiteTimeout)
}

// R-WS76-3 and R-WS-1: an empty message is ignored (no reply, no close).
func TestProtocolWebsocketEmptyFrame(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ws := dialWS(t, f.addr, sessionBase("/echo")+"/websocket")
	wsExpect(t, ws, frameOpen)
	wsSend(t, ws, "")
	wsSend(t, ws, `["a"]`)
	wsExpect(t, ws, `a["a"]`) // the first thing after the empty message
}

// R-WS76-4: websocket sessions may share an id (DEVIATION (3), as the
// suite wants: websocket sessions are not registered in the session
// registry), and the id may be reused after both close.
func TestProtocolWebsocketReuseSessionID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	path := sessionBase("/echo") + "/websocket"
	ws1 := dialWS(t, f.addr, path)
	wsExpect(t, ws1, frameOpen)
	ws2 := dialWS(t, f.addr, path)
	wsExpect(t, ws2, frameOpen)
	wsSend(t, ws1, `["a"]`)
	wsExpect(t, ws1, `a["a"]`)
	wsSend(t, ws2, `["b"]`)
	wsExpect(t, ws2, `a["b"]`)
	_ = ws1.Close()
	_ = ws2.Close()

	ws3 := dialWS(t, f.addr, path)
	wsExpect(t, ws3, frameOpen)
	wsSend(t, ws3, `["a"]`)
	wsExpect(t, ws3, `a["a"]`)
}

// R-WS76-6 and R-WS-4: broken JSON closes the connection at once.
func TestProtocolWebsocketBrokenJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ws := dialWS(t, f.addr, sessionBase("/echo")+"/websocket")
	wsExpect(t, ws, frameOpen)
	wsSend(t, ws, `["a`)
	wsExpectClosed(t, ws, suiteTimeout)
}

// rawHandshake sends a websocket handshake with exactly the given headers
// (plus Host) and returns the response head.
func rawHandshake(t *testing.T, f *fixture, path string, header ...string) *response {
	t.Helper()
	c := dialRaw(t, f.addr)
	return c.Do(request{Method: http.MethodGet, Path: path, Header: header})
}

// expectUpgraded checks a 101 answer to the key x3JJHMbDL1EzLkh9GBhXDw==.
func expectUpgraded(t *testing.T, r *response) {
	t.Helper()
	expectStatus(t, r, http.StatusSwitchingProtocols)
	expectHeader(t, r, "Sec-WebSocket-Accept", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=")
	if got := strings.ToLower(single(t, r, "Connection")); got != "upgrade" {
		t.Fatalf("Connection %q; want exactly Upgrade", r.Header.Get("Connection"))
	}
	if got := strings.ToLower(single(t, r, "Upgrade")); got != "websocket" {
		t.Fatalf("Upgrade %q; want websocket", r.Header.Get("Upgrade"))
	}
	expectNoHeader(t, r, "Content-Length")
}

// R-WS-3: handshake versions 7, 8 and 13 are all accepted, with no Origin
// header (only the old Sec-WebSocket-Origin).
func TestProtocolWebsocketHandshakeVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, v := range []string{"7", "8", "13"} {
		t.Run("version "+v, func(t *testing.T) {
			t.Parallel()
			r := rawHandshake(t, f, sessionBase("/echo")+"/websocket",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"Sec-WebSocket-Version: "+v,
				"Sec-WebSocket-Origin: http://asd",
				"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==")
			expectUpgraded(t, r)
		})
	}
}

// R-WS-5: Firefox 6 sends "Connection: keep-alive, Upgrade".
func TestProtocolWebsocketFirefox602ConnectionHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := rawHandshake(t, f, sessionBase("/echo")+"/websocket",
		"Upgrade: websocket",
		"Connection: keep-alive, Upgrade",
		"Sec-WebSocket-Version: 7",
		"Sec-WebSocket-Origin: http://asd",
		"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==")
	expectUpgraded(t, r)
}

// Not in the suite (it tests only /info there): with websocket disabled,
// websocket URLs are not found, as Options.DisableWebSocket documents.
func TestProtocolWebsocketDisabled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	expect404(t, rawHandshake(t, f, sessionBase("/disabled_websocket_echo")+"/websocket",
		"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
		"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw=="))
}
