package stomp_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/sockjs"
	"github.com/sockline/sockline/stomp"
)

// sockjsConn is a minimal SockJS client: websocket or xhr polling.
type sockjsConn struct {
	t    *testing.T
	ws   *websocket.Conn
	http *http.Client
	base string // xhr: https://host/stomp/000/id
	dec  stomp.Decoder
}

func (c *sockjsConn) sendMsgs(msgs ...string) {
	c.t.Helper()
	b, _ := json.Marshal(msgs)
	if c.ws != nil {
		if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
			c.t.Fatal(err)
		}
		return
	}
	resp, err := c.http.Post(c.base+"/xhr_send", "text/plain", strings.NewReader(string(b)))
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		c.t.Fatalf("xhr_send: %d", resp.StatusCode)
	}
}

// frame reads one SockJS frame.
func (c *sockjsConn) frame() string {
	c.t.Helper()
	if c.ws != nil {
		c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatal(err)
		}
		return string(b)
	}
	resp, err := c.http.Post(c.base+"/xhr", "text/plain", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSuffix(string(b), "\n")
}

// next returns the next STOMP frame.
func (c *sockjsConn) next() *stomp.Frame {
	c.t.Helper()
	for range 100 {
		if f, err := c.dec.Next(); err != nil {
			c.t.Fatal(err)
		} else if f != nil {
			return f
		}
		fr := c.frame()
		switch {
		case fr == "o" || fr == "h":
		case strings.HasPrefix(fr, "a"):
			var msgs []string
			if err := json.Unmarshal([]byte(fr[1:]), &msgs); err != nil {
				c.t.Fatal(err)
			}
			for _, m := range msgs {
				c.dec.Feed([]byte(m))
			}
		default:
			c.t.Fatalf("frame %q", fr)
		}
	}
	c.t.Fatal("no STOMP frame")
	return nil
}

func (c *sockjsConn) expect(cmd string) *stomp.Frame {
	c.t.Helper()
	f := c.next()
	if f.Command != cmd {
		c.t.Fatalf("got %s %v %q, want %s", f.Command, f.Header, f.Body, cmd)
	}
	return f
}

// The server on real SockJS sessions, served over TLS and HTTP/2: a
// websocket subscriber and an xhr-polling sender, frames split across and
// joined within SockJS messages.
func TestOverSockJS(t *testing.T) {
	srv := stomp.NewServer(stomp.Config{Authenticate: stomp.LoginAuthenticator})
	defer srv.Close()
	srv.Handle("/app/echo", func(ctx context.Context, m *stomp.AppMessage) error {
		return m.Reply("/user/queue/echo", nil, m.Body)
	})
	h := sockjs.NewHandler(sockjs.Options{}, srv.ServeSession)
	r := chi.NewRouter()
	r.Mount("/stomp", h)
	hs := httptest.NewUnstartedServer(r)
	hs.EnableHTTP2 = true
	hs.StartTLS()
	defer hs.Close()
	defer h.Shutdown(context.Background())

	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial(strings.Replace(hs.URL, "https", "wss", 1)+"/stomp/000/wsclient/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	sub := &sockjsConn{t: t, ws: ws}
	sub.sendMsgs("CONNECT\naccept-version:1.2\nlogin:alice\n\n\x00", "SUBSCRIBE\nid:1\ndestination:/topic/t\nreceipt:r\n\n\x00")
	sub.expect("CONNECTED")
	sub.expect("RECEIPT")

	pub := &sockjsConn{t: t, http: hs.Client(), base: hs.URL + "/stomp/000/xhrclient"}
	if f := pub.frame(); f != "o" {
		t.Fatalf("open frame %q", f)
	}
	pub.sendMsgs("CONNECT\naccept-version:1.2\nlogin:bob\n\n\x00SUBSCRIBE\nid:e\ndestination:/user/queue/echo\n\n\x00SEND\ndestination:/topic/t\ncontent-type:text/plain\nx-k:v\n\n", "héllo\x00")
	pub.sendMsgs("SEND\ndestination:/app/echo\nreceipt:done\n\nback\x00")
	pub.expect("CONNECTED")
	if f := pub.expect("MESSAGE"); string(f.Body) != "back" || f.Header.Get("destination") != "/user/queue/echo" {
		t.Fatalf("%v %q", f.Header, f.Body)
	}
	pub.expect("RECEIPT")
	f := sub.expect("MESSAGE")
	if string(f.Body) != "héllo" || f.Header.Get("x-k") != "v" || f.Header.Get("content-type") != "text/plain" {
		t.Fatalf("%v %q", f.Header, f.Body)
	}
	// An ERROR closes the SockJS session with CloseProtocolError.
	sub.sendMsgs("SEND\n\nno destination\x00")
	if e := sub.expect("ERROR"); !strings.Contains(e.Header.Get("message"), "destination") {
		t.Fatal(e.Header)
	}
	if fr := sub.frame(); fr != `c[4000,"STOMP error"]` {
		t.Fatalf("close frame %q", fr)
	}
}
