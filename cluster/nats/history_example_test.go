package nats_test

import (
	"context"
	"log"
	"time"

	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/sockjs"
)

// History and presence shared by every node: the history store's streams
// republish on the Bus's subjects, so make it from the bus (or give
// NewHistory the bus's Prefix).
func ExampleNewHistory() {
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
	hist, err := nats.NewHistory(nc, nats.HistoryOptions{}) // or bus.History(nats.HistoryOptions{})
	if err != nil {
		log.Fatal(err)
	}
	pres, err := nats.NewPresence(nc, nats.PresenceOptions{}) // or bus.Presence(nats.PresenceOptions{})
	if err != nil {
		log.Fatal(err)
	}
	opts := sockjs.Options{
		Cluster: &sockjs.Cluster{Store: store, Bus: bus, Secret: []byte("the same 32 random bytes on every node")},
		History: sockjs.HistoryOptions{
			Rules: []history.Rule{{Pattern: "room/*", Bounds: history.Bounds{Size: 1000}}},
			Store: hist,
		},
		Presence: sockjs.PresenceOptions{Store: pres},
	}
	_ = opts // sockjs.NewHandler(opts, app)

	// JetStream has no expiry of whole streams: delete the streams of
	// topics idle past their KeepPosition now and then.
	go func() {
		for range time.Tick(time.Hour) {
			if _, err := hist.Prune(context.Background()); err != nil {
				log.Print(err)
			}
		}
	}()
}

// A presence store alone, for an application that tracks members itself.
func ExampleNewPresence() {
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	p, err := nats.NewPresence(nc, nats.PresenceOptions{})
	if err != nil {
		log.Fatal(err)
	}
	_ = p // sockjs.Options{Presence: sockjs.PresenceOptions{Store: p}}
}
