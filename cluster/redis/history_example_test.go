package redis_test

import (
	"log"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/sockjs"
)

// History and presence shared by every node: the history store publishes on
// the Bus's channels, so give both the same prefix (here the default).
func ExampleNewHistory() {
	rdb, err := redis.NewClient("redis://127.0.0.1:6379")
	if err != nil {
		log.Fatal(err)
	}
	store, err := redis.NewStore(rdb, redis.StoreOptions{Node: "node-1"})
	if err != nil {
		log.Fatal(err)
	}
	opts := sockjs.Options{
		Cluster: &sockjs.Cluster{Store: store, Bus: redis.NewBus(rdb, redis.BusOptions{}), Secret: []byte("the same 32 random bytes on every node")},
		History: sockjs.HistoryOptions{
			Rules: []history.Rule{{Pattern: "room/*", Bounds: history.Bounds{Size: 1000}}},
			Store: redis.NewHistory(rdb, redis.HistoryOptions{}),
		},
		Presence: sockjs.PresenceOptions{Store: redis.NewPresence(rdb, "")},
	}
	_ = opts // sockjs.NewHandler(opts, app)
}
