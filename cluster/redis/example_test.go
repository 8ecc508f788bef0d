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
