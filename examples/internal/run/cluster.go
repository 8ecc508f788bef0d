package run

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

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
	// RedisCluster is the -redis-cluster flag: seed nodes of a Redis
	// Cluster, comma-separated (host:port or redis:// URLs).
	RedisCluster string
	// RedisSentinel is the -redis-sentinel flag: MASTER@HOST:PORT,... the
	// master name the sentinels monitor and their addresses.
	RedisSentinel string
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
	RedisClusterUsage  = "Redis Cluster seed nodes, HOST:PORT,HOST:PORT,... (or redis://... URLs), to run as one node of a cluster on a Redis Cluster (sharded pub/sub, Redis 7); instead of -redis"
	RedisSentinelUsage = "MASTER@HOST:PORT,HOST:PORT,...: the master name Redis Sentinel monitors and the sentinels' addresses, to run as one node of a cluster on the master they name (followed across failovers); instead of -redis"
	NodeUsage          = "this node's name in the cluster (host:port, a pod name): unique among the nodes alive at one time; a restart under the same name is safe (default: host name and process id)"
	RedisCAUsage       = "PEM file of the CA(s) that signed the rediss:// server's certificate (default: the system's roots)"
)

// Cluster connects to Redis (one Redis, a Redis Cluster or Sentinel) or
// NATS as cfg says and returns the cluster template for the example's
// handlers (each sets its own Service) and a function that closes the
// connection after the handlers shut down. No engine at all returns nil:
// one process. The store adds a random epoch to the node's name, so a
// restart under the same name is a new incarnation.
func Cluster(cfg ClusterConfig) (*sockjs.Cluster, func(context.Context) error, error) {
	if cfg.NATS != "" {
		return natsCluster(cfg)
	}
	if cfg.Redis == "" && cfg.RedisCluster == "" && cfg.RedisSentinel == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	secret := os.Getenv(SecretEnv)
	if len(secret) < 16 {
		return nil, nil, fmt.Errorf("cluster mode needs $%s: the same random secret of at least 16 bytes on every node (for example: export %s=$(openssl rand -hex 32))", SecretEnv, SecretEnv)
	}
	rdb, err := redisClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	addr := cfg.Engine()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("%s does not answer: %w", addr, err)
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

// Engine describes the store the flags name, for logs: "Redis host:port",
// "Redis Cluster a,b,c", "Redis Sentinel MASTER@a,b" or "NATS nats://...";
// "" for one process.
func (cfg ClusterConfig) Engine() string {
	switch {
	case cfg.NATS != "":
		return "NATS " + cfg.NATS
	case cfg.RedisCluster != "":
		return "Redis Cluster " + cfg.RedisCluster
	case cfg.RedisSentinel != "":
		return "Redis Sentinel " + cfg.RedisSentinel
	case cfg.Redis != "":
		return "Redis " + cfg.Redis
	}
	return ""
}

// redisClient returns the client for the one Redis set-up cfg names.
func redisClient(cfg ClusterConfig) (goredis.UniversalClient, error) {
	n := 0
	for _, v := range []string{cfg.Redis, cfg.RedisCluster, cfg.RedisSentinel} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("give one of -redis, -redis-cluster and -redis-sentinel")
	}
	opts := redis.ClientOptions{CAFile: cfg.RedisCA}
	switch {
	case cfg.RedisCluster != "":
		seeds := splitList(cfg.RedisCluster)
		if len(seeds) == 0 {
			return nil, errors.New("-redis-cluster: give HOST:PORT,HOST:PORT,... of some of the cluster's nodes")
		}
		return redis.NewClusterClient(seeds, opts)
	case cfg.RedisSentinel != "":
		master, addrs, ok := strings.Cut(cfg.RedisSentinel, "@")
		if !ok || master == "" || len(splitList(addrs)) == 0 {
			return nil, fmt.Errorf("-redis-sentinel %q: write it as MASTER@HOST:PORT,HOST:PORT,... (the master name the sentinels monitor, then their addresses)", cfg.RedisSentinel)
		}
		return redis.NewSentinelClient(master, splitList(addrs), opts)
	}
	return redis.NewClientWith(cfg.Redis, opts)
}

// splitList splits a comma-separated list, dropping empty items and spaces.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
