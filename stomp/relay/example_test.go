package relay_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sockline/sockline/stomp"
	"github.com/sockline/sockline/stomp/relay"
)

// A relay to a local RabbitMQ (rabbitmq-plugins enable rabbitmq_stomp): one
// session subscribes, the application publishes over the system connection.
// (Not run: it needs a broker.)
func ExampleNew() {
	r, err := relay.New(relay.Options{Addr: "localhost:61613"})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		log.Fatal(err) // says why: "connection refused", "Access refused for user"...
	}
	got := make(chan *stomp.Frame, 16)
	s, err := r.Open(ctx, "guest", "guest",
		func(f *stomp.Frame) { got <- f }, // MESSAGE, RECEIPT, ERROR, in order
		func(err error) { log.Printf("broker connection lost: %v", err) })
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	_ = s.Forward(ctx, &stomp.Frame{Command: stomp.CmdSubscribe, Header: stomp.Header{
		{Key: "id", Value: "0"}, {Key: "destination", Value: "/topic/news"}, {Key: "receipt", Value: "sub"},
	}})
	<-got // the RECEIPT: the subscription is bound
	_ = r.Publish(ctx, "/topic/news", nil, []byte("hello"))
	fmt.Println(string((<-got).Body))
}
