package sockjs_test

import (
	"net/http"
	"testing"
)

// R-WSERR-1: a GET that is no upgrade at all.
func TestProtocolWebsocketNoUpgrade(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	expectBodyContains(t, f.get(t, "/echo/0/0/websocket"), http.StatusBadRequest, `Can "Upgrade" only to "WebSocket".`)
}

// R-WSERR-2: Upgrade without "Connection: Upgrade".
func TestProtocolWebsocketBadConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.get(t, "/echo/0/0/websocket", "Upgrade: WebSocket", "Connection: close")
	expectBodyContains(t, r, http.StatusBadRequest, `"Connection" must be "Upgrade".`)
}

// R-WSERR-3: POST to a websocket URL is 405 (H-405), with or without
// upgrade headers.
func TestProtocolWebsocketPost(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	expect405(t, f.post(t, "/echo/0/0/websocket", ""))
	expect405(t, f.post(t, "/echo/0/0/websocket", "", "Upgrade: WebSocket", "Connection: Upgrade"))
}
