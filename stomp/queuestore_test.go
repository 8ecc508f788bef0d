package stomp_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/stomp"
	"github.com/sockline/sockline/stomp/queuetest"
)

// Two Servers sharing a QueueStore are two nodes sharing their queues: a
// SEND on one reaches a consumer on the other; a NACK, and a consumer
// leaving with an unacknowledged message, give it to another consumer; an
// ACKed one is gone.
func TestSharedQueueStore(t *testing.T) {
	store := queuetest.NewMemory()
	node := func() string {
		srv := stomp.NewServer(stomp.Config{QueueStore: store})
		h, err := srv.WebSocketHandler(stomp.WebSocketOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(h)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		return "ws" + strings.TrimPrefix(hs.URL, "http")
	}
	dial := func(url string) *wsClient {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		c := &wsClient{t: t, ws: ws}
		c.send("CONNECT\naccept-version:1.2\n\n\x00")
		c.expect("CONNECTED")
		return c
	}
	a, b := node(), node()
	consumer := dial(a)
	consumer.send("SUBSCRIBE\nid:1\ndestination:/queue/shared\nack:client-individual\nreceipt:r\n\n\x00")
	consumer.expect("RECEIPT")
	sender := dial(b)
	sender.send("SEND\ndestination:/queue/shared\n\njob\x00")
	f := consumer.expect("MESSAGE")
	if string(f.Body) != "job" {
		t.Fatalf("%q", f.Body)
	}
	consumer.send("NACK\nid:" + f.Header.Get("ack") + "\n\n\x00")
	f = consumer.expect("MESSAGE")
	if string(f.Body) != "job" {
		t.Fatalf("after NACK: %q", f.Body)
	}
	other := dial(b)
	other.send("SUBSCRIBE\nid:2\ndestination:/queue/shared\nack:client\nreceipt:r\n\n\x00")
	other.expect("RECEIPT")
	consumer.send("UNSUBSCRIBE\nid:1\nreceipt:u\n\n\x00")
	consumer.expect("RECEIPT")
	f = other.expect("MESSAGE")
	if string(f.Body) != "job" {
		t.Fatalf("after the consumer left: %q", f.Body)
	}
	other.send("ACK\nid:" + f.Header.Get("ack") + "\n\n\x00")
	sender.send("SEND\ndestination:/queue/shared\n\nnext\x00")
	if f := other.expect("MESSAGE"); string(f.Body) != "next" {
		t.Fatalf("the ACKed message came back: %q", f.Body)
	}
}
