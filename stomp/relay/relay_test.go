package relay

import (
	"context"
	"testing"

	"github.com/sockline/sockline/stomp"
)

// TestRoundTrip subscribes through the relay and receives what another
// session SENDs and what Publish sends, for each kind of RabbitMQ
// destination.
func TestRoundTrip(t *testing.T) {
	b := needBroker(t)
	r := newRelay(t, testOptions(b.Addr()))
	for _, tc := range []struct{ name, sub, send string }{
		{"topic", "/topic/rt.x", "/topic/rt.x"},
		{"queue", "/queue/rt-x", "/queue/rt-x"},
		{"exchange", "/exchange/amq.topic/rt.*", "/exchange/amq.topic/rt.a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := open(t, r, "guest", "guest")
			pub := open(t, r, "guest", "guest")
			sub.subscribe(t, "s1", tc.sub)
			pub.forward(t, stomp.CmdSend, "destination", tc.send, "body", "from a session")
			m := sub.next(t, stomp.CmdMessage)
			if string(m.Body) != "from a session" || m.Header.Get(stomp.HdrSubscription) != "s1" {
				t.Fatalf("MESSAGE %v %q, want subscription s1 and the body sent", m.Header, m.Body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if err := r.Publish(ctx, tc.send, stomp.Header{{Key: "x-app", Value: "1"}}, []byte("published")); err != nil {
				t.Fatal(err)
			}
			m = sub.next(t, stomp.CmdMessage)
			if string(m.Body) != "published" || m.Header.Get("x-app") != "1" {
				t.Fatalf("MESSAGE %v %q, want the published body and header", m.Header, m.Body)
			}
		})
	}
}
