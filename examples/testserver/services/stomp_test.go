package services

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/stomp"
)

// /app/fail and /app/panic answer on /user/queue/errors and keep the
// session; SUBSCRIBE /app/hello is answered once with "hello LOGIN".
func TestStompApplicationDestinations(t *testing.T) {
	r, shutdown := New(Config{})
	hs := httptest.NewServer(r)
	defer func() {
		hs.Close()
		_ = shutdown(context.Background())
	}()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/stomp/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var dec stomp.Decoder
	send := func(s string) {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	next := func() *stomp.Frame {
		for {
			if f, err := dec.Next(); err != nil {
				t.Fatal(err)
			} else if f != nil {
				return f
			}
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("connection ended: %v", err)
			}
			dec.Feed(b)
		}
	}
	send("CONNECT\naccept-version:1.2\nlogin:zoe\n\n\x00")
	if f := next(); f.Command != "CONNECTED" {
		t.Fatal(f.Command)
	}
	send("SUBSCRIBE\nid:e\ndestination:/user/queue/errors\n\n\x00SUBSCRIBE\nid:h\ndestination:/app/hello\nreceipt:r\n\n\x00")
	if f := next(); f.Command != "MESSAGE" || string(f.Body) != "hello zoe" || f.Header.Get("subscription") != "h" {
		t.Fatalf("%s %v %q", f.Command, f.Header, f.Body)
	}
	if f := next(); f.Command != "RECEIPT" {
		t.Fatal(f.Command)
	}
	for dest, want := range map[string]string{"/app/fail": "/app/fail fails, as asked", "/app/panic": "request failed"} {
		send("SEND\ndestination:" + dest + "\n\n\x00")
		if f := next(); f.Command != "MESSAGE" || f.Header.Get("subscription") != "e" || string(f.Body) != want {
			t.Fatalf("%s: %s %v %q", dest, f.Command, f.Header, f.Body)
		}
	}
	send("SUBSCRIBE\nid:o\ndestination:/user/queue/echo\n\n\x00SEND\ndestination:/app/echo\n\nstill here\x00")
	if f := next(); f.Command != "MESSAGE" || string(f.Body) != "still here" {
		t.Fatalf("%s %v %q", f.Command, f.Header, f.Body)
	}
}
