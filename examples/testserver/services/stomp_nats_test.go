package services

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/sockjs"
	"github.com/sockline/sockline/stomp"
)

// stompConn is a STOMP client on a service's raw WebSocket endpoint.
type stompConn struct {
	t   *testing.T
	ws  *websocket.Conn
	dec stomp.Decoder
}

func dialStomp(t *testing.T, base, login string) *stompConn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/stomp/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &stompConn{t: t, ws: ws}
	c.send("CONNECT\naccept-version:1.2\nlogin:" + login + "\n\n\x00")
	if f := c.next(); f.Command != "CONNECTED" {
		t.Fatalf("%s: %s %q", login, f.Command, f.Body)
	}
	return c
}

func (c *stompConn) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *stompConn) next() *stomp.Frame {
	c.t.Helper()
	for {
		if f, err := c.dec.Next(); err != nil {
			c.t.Fatal(err)
		} else if f != nil {
			return f
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("connection ended: %v", err)
		}
		c.dec.Feed(b)
	}
}

// natsNode serves the services as one cluster node on srv.
func natsNode(t *testing.T, srv *natstest.Server, name string) string {
	t.Helper()
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	store, err := nats.NewStore(nc, nats.StoreOptions{Node: name})
	if err != nil {
		t.Fatal(err)
	}
	bus, err := nats.NewBus(nc, nats.BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, shutdown := New(Config{Cluster: &sockjs.Cluster{Store: store, Bus: bus, Secret: []byte("services nats test secret, 32 b")}})
	hs := httptest.NewServer(r)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(ctx)
		_ = bus.Close()
		nc.Close()
	})
	return hs.URL
}

// With -nats, /stomp keeps history on /topic/ destinations and presence
// in JetStream, shared by the nodes: a subscriber on one node gets what is
// sent on the other with its offset, a subscriber on the other recovers
// from an offset, and the members of one node are listed on the other.
func TestStompHistoryAndPresenceOnNATS(t *testing.T) {
	srv := natstest.Start(t)
	n1, n2 := natsNode(t, srv, "n1"), natsNode(t, srv, "n2")

	ann := dialStomp(t, n1, "ann")
	ann.send("SUBSCRIBE\nid:s\ndestination:/topic/news\nx-presence:true\nreceipt:r\n\n\x00")
	if f := ann.next(); f.Command != "RECEIPT" {
		t.Fatalf("%s %q", f.Command, f.Body)
	}
	bob := dialStomp(t, n2, "bob")
	bob.send("SUBSCRIBE\nid:p\ndestination:/app/presence/news\n\n\x00")
	if f := bob.next(); f.Command != "MESSAGE" || !strings.Contains(string(f.Body), `"info":"ann"`) {
		t.Fatalf("members of /topic/news seen on the other node: %s %q", f.Command, f.Body)
	}
	for _, m := range []string{"m1", "m2", "m3"} {
		bob.send("SEND\ndestination:/topic/news\n\n" + m + "\x00")
	}
	var offsets, epochs []string
	for _, want := range []string{"m1", "m2", "m3"} {
		f := ann.next()
		if f.Command != "MESSAGE" || string(f.Body) != want || f.Header.Get(stomp.HdrStreamOffset) == "" {
			t.Fatalf("live on the other node: %s %v %q, want %s with an offset", f.Command, f.Header, f.Body, want)
		}
		offsets = append(offsets, f.Header.Get(stomp.HdrStreamOffset))
		epochs = append(epochs, f.Header.Get("x-stream-epoch"))
	}
	if epochs[0] == "" || epochs[0] != epochs[2] {
		t.Fatalf("epochs %v", epochs)
	}
	cid := dialStomp(t, n2, "cid")
	cid.send("SUBSCRIBE\nid:s\ndestination:/topic/news\nx-stream-offset:offset=" + offsets[1] + "\nx-stream-epoch:" + epochs[1] + "\nreceipt:r\n\n\x00")
	var got []string
	for len(got) < 2 {
		switch f := cid.next(); f.Command {
		case "RECEIPT":
			if f.Header.Get("x-stream-recovered") != "true" {
				t.Fatalf("not recovered from %s: %v", offsets[1], f.Header)
			}
		case "MESSAGE":
			got = append(got, string(f.Body))
		default:
			t.Fatalf("%s %q", f.Command, f.Body)
		}
	}
	if strings.Join(got, ",") != "m2,m3" {
		t.Fatalf("replayed from offset %s: %v", offsets[1], got)
	}
}
