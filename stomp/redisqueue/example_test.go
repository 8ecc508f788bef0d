package redisqueue_test

import (
	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/stomp"
	"github.com/sockline/sockline/stomp/redisqueue"
)

// Every node gives its stomp.Server a Store on the same Redis: a SEND to
// /queue/jobs on any node reaches one consumer on some node.
func Example() {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	srv := stomp.NewServer(stomp.Config{QueueStore: redisqueue.New(rdb, redisqueue.Options{})})
	defer srv.Close()
}
