package redis_test

import (
	"log"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/stomp"
)

// A STOMP server whose /topic destinations reach subscribers on every node
// that shares the Redis at 127.0.0.1:6379.
func ExampleNewBus() {
	rdb, err := redis.NewClient("redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
	bus := redis.NewBus(rdb, redis.BusOptions{})
	defer bus.Close()

	srv := stomp.NewServer(stomp.Config{Bus: bus})
	defer srv.Close()
	_ = srv // mount it as in package stomp's examples
}

// Nodes on a Redis Cluster: a few seed nodes, the rest learnt from them.
// The Store and Bus take the cluster client as they take one Redis'.
func ExampleNewClusterClient() {
	rdb, err := redis.NewClusterClient([]string{"10.0.0.5:7000", "10.0.0.6:7000"}, redis.ClientOptions{Password: "from-a-secret-store"})
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
	store, err := redis.NewStore(rdb, redis.StoreOptions{Node: "web-1"})
	if err != nil {
		log.Fatal(err)
	}
	bus := redis.NewBus(rdb, redis.BusOptions{})
	defer bus.Close()
	_ = store // sockjs.Cluster{Store: store, Bus: bus, ...}
}

// Nodes on the master that Redis Sentinel watches, followed across
// failovers.
func ExampleNewSentinelClient() {
	rdb, err := redis.NewSentinelClient("sockline", []string{"10.0.0.7:26379", "10.0.0.8:26379", "10.0.0.9:26379"}, redis.ClientOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
	_ = redis.NewBus(rdb, redis.BusOptions{}).Close()
}
