package run

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/sockjs"
)

// RedisUsage is the help text of the examples' -redis flag.
const RedisUsage = "Redis address (host:port, redis://... or rediss://... for TLS, with user:password@ for ACLs) to run as one node of a cluster; empty: one process. Every node needs the same secret in $" + SecretEnv

// SecretEnv names the environment variable that holds the cluster secret:
// at least 16 bytes, the same on every node (for example the output of
// `openssl rand -hex 32`). It is read from the environment rather than a
// flag so that it does not show in the process list.
const SecretEnv = "SOCKLINE_CLUSTER_SECRET"

// Cluster connects to Redis at addr and returns the cluster template for
// the example's handlers (each sets its own Service) and a function that
// closes the connection after the handlers shut down. An empty addr returns
// nil: one process. The node's name is the host name and process id; the
// store adds a random epoch, so a restart under the same name is a new
// incarnation.
func Cluster(addr string) (*sockjs.Cluster, func(context.Context) error, error) {
	if addr == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	secret := os.Getenv(SecretEnv)
	if len(secret) < 16 {
		return nil, nil, fmt.Errorf("cluster mode needs $%s: the same random secret of at least 16 bytes on every node (for example: export %s=$(openssl rand -hex 32))", SecretEnv, SecretEnv)
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
	node := fmt.Sprintf("%s-%d", host, os.Getpid())
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
	return &sockjs.Cluster{Store: store, Bus: bus, Secret: []byte(secret)}, closer, nil
}
