package run

import (
	"context"
	"fmt"
	"net"
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

// ClusterConfig is what the examples' cluster flags say.
type ClusterConfig struct {
	// Redis is the -redis flag: empty means one process.
	Redis string
	// RedisCA is the -redis-ca flag: a PEM file of the CAs a rediss://
	// server's certificate is checked against instead of the system's.
	RedisCA string
	// Node is the -node flag: this node's name; empty means the host name
	// and process id.
	Node string
	// Direct is the -direct flag: the host (a private address) on which
	// each handler takes direct connections from the other nodes, on a
	// port of its own (see sockjs.Cluster.DirectListener); empty: none.
	Direct string
	// NATS is the -nats flag: the cluster runs on NATS instead of Redis.
	NATS string
}

// DirectUsage is the help text of the examples' -direct flag.
const DirectUsage = "cluster: carry requests between nodes over direct connections on this host (a private address the other nodes reach; one free port per service) instead of through Redis; empty: through Redis"

// DirectListener returns a listener for one handler's direct connections
// on host (a free port), or nil when host is empty.
func DirectListener(host string) (net.Listener, error) {
	if host == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("-direct %s: %w", host, err)
	}
	return ln, nil
}

// Usage texts of the examples' cluster flags.
const (
	NodeUsage    = "this node's name in the cluster (host:port, a pod name): unique among the nodes alive at one time; a restart under the same name is safe (default: host name and process id)"
	RedisCAUsage = "PEM file of the CA(s) that signed the rediss:// server's certificate (default: the system's roots)"
)

// Cluster connects to Redis (or NATS, with cfg.NATS) as cfg says and returns the cluster template
// for the example's handlers (each sets its own Service) and a function
// that closes the connection after the handlers shut down. An empty
// cfg.Redis returns nil: one process. The store adds a random epoch to the
// node's name, so a restart under the same name is a new incarnation.
func Cluster(cfg ClusterConfig) (*sockjs.Cluster, func(context.Context) error, error) {
	if cfg.NATS != "" {
		return natsCluster(cfg)
	}
	addr := cfg.Redis
	if addr == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	secret := os.Getenv(SecretEnv)
	if len(secret) < 16 {
		return nil, nil, fmt.Errorf("cluster mode needs $%s: the same random secret of at least 16 bytes on every node (for example: export %s=$(openssl rand -hex 32))", SecretEnv, SecretEnv)
	}
	rdb, err := redis.NewClientWith(addr, redis.ClientOptions{CAFile: cfg.RedisCA})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("redis at %s does not answer: %w", addr, err)
	}
	node := cfg.Node
	if node == "" {
		host, _ := os.Hostname()
		node = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
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
