package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/sockjs"
)

// RedisUsage is the help text of the examples' -redis flag.
const RedisUsage = "Redis address (host:port or redis://...) to run as one node of a cluster; empty: one process"

// Cluster connects to Redis at addr and returns the cluster template for
// the example's handlers (each sets its own Service) and a function that
// closes the connection after the handlers shut down. An empty addr returns
// nil: one process. The node's id is the host name, process id and a random
// suffix, unique even for several processes on one machine.
func Cluster(addr string) (*sockjs.Cluster, func(context.Context) error, error) {
	if addr == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	rdb, err := redis.NewClient(addr)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("redis at %s does not answer: %w", addr, err)
	}
	host, _ := os.Hostname()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	node := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(suffix[:]))
	store, err := redis.NewStore(rdb, redis.StoreOptions{Node: node})
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	bus := redis.NewBus(rdb, redis.BusOptions{})
	closer := func(context.Context) error {
		_ = bus.Close()
		return rdb.Close()
	}
	return &sockjs.Cluster{Store: store, Bus: bus}, closer, nil
}
