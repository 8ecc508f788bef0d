package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/sockjs"
)

// NATSUsage is the help text of the examples' -nats flag.
const NATSUsage = "NATS address (nats://host:port, tls://... for TLS, several comma-separated; the server needs JetStream: nats-server -js) to run as one node of a cluster instead of on Redis; empty: one process. Every node needs the same secret in $" + SecretEnv

// natsCluster is Cluster on NATS: cfg.NATS is set.
func natsCluster(cfg ClusterConfig) (*sockjs.Cluster, func(context.Context) error, error) {
	if cfg.Redis != "" || cfg.RedisCluster != "" || cfg.RedisSentinel != "" {
		return nil, nil, errors.New("give -nats or a Redis flag (-redis, -redis-cluster, -redis-sentinel), not both: the nodes share one engine")
	}
	secret := os.Getenv(SecretEnv)
	if len(secret) < 16 {
		return nil, nil, fmt.Errorf("cluster mode needs $%s: the same random secret of at least 16 bytes on every node (for example: export %s=$(openssl rand -hex 32))", SecretEnv, SecretEnv)
	}
	nc, err := nats.Connect(cfg.NATS)
	if err != nil {
		return nil, nil, err
	}
	node := cfg.Node
	if node == "" {
		host, _ := os.Hostname()
		node = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	store, err := nats.NewStore(nc, nats.StoreOptions{Node: node})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	// The first registration makes the bucket: a server without JetStream
	// is reported now, not by the first request.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := store.Alive(ctx, []string{store.Node()}); err != nil && !errors.Is(err, nats.ErrRecovering) {
		nc.Close()
		return nil, nil, fmt.Errorf("NATS at %s: %w", cfg.NATS, err)
	}
	bus, err := nats.NewBus(nc, nats.BusOptions{})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	closer := func(context.Context) error {
		_ = bus.Close()
		nc.Close()
		return nil
	}
	return &sockjs.Cluster{Store: store, Bus: bus, Secret: []byte(secret)}, closer, nil
}
