package nats_test

import (
	"context"
	"log"
	"net/http"

	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/sockjs"
)

// A node of a cluster on NATS: every node runs this with its own name and
// the same secret, behind any load balancer.
func Example() {
	nc, err := nats.Connect("nats://127.0.0.1:4222") // nats-server -js
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	store, err := nats.NewStore(nc, nats.StoreOptions{Node: "node-1"})
	if err != nil {
		log.Fatal(err)
	}
	bus, err := nats.NewBus(nc, nats.BusOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	h := sockjs.NewHandler(sockjs.Options{Cluster: &sockjs.Cluster{
		Store:  store,
		Bus:    bus,
		Secret: []byte("the same 32 random bytes on every node"),
	}}, func(ctx context.Context, s *sockjs.Session) {
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				return
			}
			_ = s.Send(msg)
		}
	})
	defer h.Shutdown(context.Background())
	http.Handle("/echo/", http.StripPrefix("/echo", h))
	log.Fatal(http.ListenAndServe(":8080", nil))
}
