package sockjs_test

// Protocol rules for the raw websocket endpoint (class RawWebsocket of
// docs/PROTOCOL-RULES.md).

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/sockjs"
)

func rawFixture(t *testing.T) *fixture {
	return newFixture(t, func(o *sockjs.Options) { o.RawWebSocket = true })
}

// R-RAWWS-1: plain text both ways, no SockJS framing, U+FFFF included.
func TestRawWebSocketEcho(t *testing.T) {
	t.Parallel()
	f := rawFixture(t)
	ws := dialWS(t, f.addr, "/echo/websocket")
	for _, m := range []string{"Hello world!\uffff", "", `["not unpacked"]`, "o", "c[3000,\"x\"]", strings.Repeat("é", 5000)} {
		wsSend(t, ws, m)
		wsExpect(t, ws, m)
	}
}

// R-RAWWS-2: on /close the connection closes before any message, within
// the suite's second; the close frame carries the session's code and
// reason.
func TestRawWebSocketClose(t *testing.T) {
	t.Parallel()
	f := rawFixture(t)
	ws := dialWS(t, f.addr, "/close/websocket")
	_ = ws.SetReadDeadline(time.Now().Add(suiteTimeout))
	_, data, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("first read: %q, %v; want the close frame", data, err)
	}
	if ce.Code != 3000 || ce.Text != "Go away!" {
		t.Fatalf("close %d %q; want 3000 \"Go away!\"", ce.Code, ce.Text)
	}
}

// A binary message is refused with 1003, as RFC 6455 has it.
func TestRawWebSocketRefusesBinary(t *testing.T) {
	t.Parallel()
	f := rawFixture(t)
	ws := dialWS(t, f.addr, "/echo/websocket")
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2})
	_ = ws.SetReadDeadline(time.Now().Add(ioTimeout))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseUnsupportedData {
		t.Fatalf("after a binary message: %v; want close 1003", err)
	}
}
