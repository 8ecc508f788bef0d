package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/sockjs"
	"github.com/sockline/sockline/stomp"
)

func TestAuthorize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op   stomp.Op
		dest string
		ok   bool
	}{
		{stomp.OpSend, "/app/rooms/lobby", true},
		{stomp.OpSend, "/app/private/Ann", true},
		{stomp.OpSend, "/topic/rooms/lobby", false},
		{stomp.OpSend, "/user/Ann/queue/private", false},
		{stomp.OpSubscribe, "/topic/rooms/lobby", true},
		{stomp.OpSubscribe, "/topic/rooms/a/b", false},
		{stomp.OpSubscribe, "/user/queue/private", true},
		{stomp.OpSubscribe, "/user/queue/errors", true},
		{stomp.OpSubscribe, "/queue/anything", false},
	}
	for _, tt := range tests {
		err := authorize(context.Background(), stomp.Principal{Name: "Bob"}, tt.op, tt.dest)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, stomp.ErrRefused) {
			t.Errorf("%s %s: %v", tt.op, tt.dest, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	for login, ok := range map[string]bool{"Ann": true, "bob_2": true, "": false, "a/b": false, "<script>": false, strings.Repeat("x", 33): false} {
		p, err := authenticate(context.Background(), &stomp.ConnectRequest{Login: login})
		if (err == nil) != ok || ok && p.Name != login {
			t.Errorf("%q: %v %v", login, p, err)
		}
	}
}

// The page names the script URLs; the bundle is served when a file is given.
func TestPage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bundle := dir + "/stomp.umd.min.js"
	if err := writeFile(bundle, "/* stompjs */"); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{bundle, ""} {
		c := newChat(sockjs.Options{SockJSURL: "/sockjs.js"}, file)
		srv := httptest.NewServer(c.router)
		body := get(t, srv.URL+"/")
		wantJS := stompjsCDN
		if file != "" {
			wantJS = "/stomp.umd.min.js"
			if got := get(t, srv.URL+wantJS); got != "/* stompjs */" {
				t.Errorf("bundle %q", got)
			}
		}
		if !strings.Contains(body, `<script src="`+wantJS+`"`) || !strings.Contains(body, `<script src="/sockjs.js">`) {
			t.Errorf("page without the scripts: %s", body[:200])
		}
		srv.Close()
		if err := c.shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return string(b)
}

func writeFile(name, s string) error { return os.WriteFile(name, []byte(s), 0o600) }

// A whitespace-only message or a bad addressee is refused on
// /user/queue/errors; the session stays and the next message goes through.
func TestBadInputKeepsSession(t *testing.T) {
	t.Parallel()
	c := newChat(sockjs.Options{RawWebSocket: true}, "")
	srv := httptest.NewServer(c.router)
	defer func() {
		srv.Close()
		_ = c.shutdown(context.Background())
	}()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/stomp/websocket", nil)
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
	send("CONNECT\naccept-version:1.2\nlogin:Ann\n\n\x00")
	if f := next(); f.Command != "CONNECTED" {
		t.Fatal(f.Command)
	}
	send("SUBSCRIBE\nid:e\ndestination:/user/queue/errors\n\n\x00SUBSCRIBE\nid:r\ndestination:/topic/rooms/lobby\nreceipt:r\n\n\x00")
	if f := next(); f.Command != "RECEIPT" {
		t.Fatal(f.Command)
	}
	for _, bad := range []string{"SEND\ndestination:/app/rooms/lobby\n\n   \x00", "SEND\ndestination:/app/private/no body\n\nhi\x00"} {
		send(bad)
		if f := next(); f.Command != "MESSAGE" || f.Header.Get("subscription") != "e" {
			t.Fatalf("%s %v %q", f.Command, f.Header, f.Body)
		}
	}
	send("SEND\ndestination:/app/rooms/lobby\n\nstill here\x00")
	if f := next(); f.Command != "MESSAGE" || string(f.Body) != "still here" {
		t.Fatalf("%s %v %q", f.Command, f.Header, f.Body)
	}
}
