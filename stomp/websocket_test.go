package stomp_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/cors"
	"github.com/sockline/sockline/stomp"
)

// wsClient reads STOMP frames from a plain websocket.
type wsClient struct {
	t   *testing.T
	ws  *websocket.Conn
	dec stomp.Decoder
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) expect(cmd string) *stomp.Frame {
	c.t.Helper()
	for {
		if f, err := c.dec.Next(); err != nil {
			c.t.Fatal(err)
		} else if f != nil {
			if f.Command != cmd {
				c.t.Fatalf("got %s %v, want %s", f.Command, f.Header, cmd)
			}
			return f
		}
		c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", cmd, err)
		}
		c.dec.Feed(b)
	}
}

func TestWebSocketEndpoint(t *testing.T) {
	srv := stomp.NewServer(stomp.Config{Authenticate: stomp.LoginAuthenticator})
	defer srv.Close()
	h, err := srv.WebSocketHandler(stomp.WebSocketOptions{Origins: cors.Config{AllowedOrigins: []string{"https://app.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")

	tests := []struct {
		name, origin string
		protocols    []string
		status       int
		chosen       string
	}{
		{"v12 chosen", "https://app.example.com", []string{"v10.stomp", "v11.stomp", "v12.stomp"}, 101, "v12.stomp"},
		{"v11 only", "", []string{"v11.stomp"}, 101, "v11.stomp"},
		{"no subprotocol", "", nil, 101, ""},
		{"foreign origin refused", "https://evil.example.net", []string{"v12.stomp"}, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.origin != "" {
				hdr.Set("Origin", tt.origin)
			}
			d := websocket.Dialer{Subprotocols: tt.protocols, HandshakeTimeout: 10 * time.Second}
			ws, resp, err := d.Dial(url, hdr)
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("status %v, err %v", resp, err)
			}
			if err != nil {
				return
			}
			defer ws.Close()
			if ws.Subprotocol() != tt.chosen {
				t.Fatalf("subprotocol %q", ws.Subprotocol())
			}
		})
	}

	dial := func(login string) *wsClient {
		d := websocket.Dialer{Subprotocols: stomp.Subprotocols}
		ws, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		c := &wsClient{t: t, ws: ws}
		c.send("CONNECT\naccept-version:1.2\nlogin:" + login + "\n\n\x00")
		c.expect("CONNECTED")
		return c
	}
	a, b := dial("a"), dial("b")
	a.send("SUBSCRIBE\nid:1\ndestination:/topic/ws\nreceipt:r\n\n\x00")
	a.expect("RECEIPT")
	b.send("SEND\ndestination:/topic/ws\nx-k:v\n\nover websocket\x00SEND\ndestination:/user/a/queue/q\n\n\x00")
	if f := a.expect("MESSAGE"); string(f.Body) != "over websocket" || f.Header.Get("x-k") != "v" {
		t.Fatalf("%v %q", f.Header, f.Body)
	}
	// ERROR, then close code 4000
	b.send("SEND\n\nx\x00")
	b.expect("ERROR")
	b.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = b.ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != stomp.CloseProtocolError {
		t.Fatalf("close: %v", err)
	}
}
