package redis

import (
	"crypto/tls"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// NewClusterClient returns a client for a Redis Cluster reached through
// seeds: addresses of some of its nodes, each "host:port" or a redis://
// (rediss:// for TLS) URL as NewClient takes them. The client learns every
// node and slot from the first seed that answers and follows resharding and
// failovers itself. Seeds must agree on the scheme, and on the user
// information when they have any; a URL's database must be 0 (a Redis
// Cluster has no other). opts are as for NewClientWith. Like NewClient it
// does not connect yet.
//
// The Store and Bus take it as they take a single Redis' client: the
// Store's scripts touch one slot each, and the Bus subscribes with sharded
// pub/sub (SSUBSCRIBE, Redis 7) at the master of each channel's slot.
func NewClusterClient(seeds []string, opts ClientOptions) (*goredis.ClusterClient, error) {
	if len(seeds) == 0 {
		return nil, errors.New("cluster: no Redis Cluster seed address: give host:port of one or more of its nodes")
	}
	var base *goredis.Options
	addrs := make([]string, 0, len(seeds))
	for _, seed := range seeds {
		o, err := parseAddr(seed)
		if err != nil {
			return nil, err
		}
		shown, _ := redactURL(seed)
		if o.DB != 0 {
			return nil, fmt.Errorf("cluster: Redis Cluster seed %q names database %d: a Redis Cluster has database 0 only", shown, o.DB)
		}
		if base == nil {
			base = o
		} else if (o.TLSConfig == nil) != (base.TLSConfig == nil) || o.Username != base.Username || o.Password != base.Password {
			return nil, fmt.Errorf("cluster: Redis Cluster seed %q differs from the first in its scheme or user information: write every seed alike, or give the credentials as ClientOptions", shown)
		}
		addrs = append(addrs, o.Addr)
	}
	o, err := opts.apply(base, seeds[0])
	if err != nil {
		return nil, err
	}
	return goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs:     addrs,
		Username:  o.Username,
		Password:  o.Password,
		TLSConfig: o.TLSConfig,
	}), nil
}

// NewSentinelClient returns a client for the master that Redis Sentinel
// names master, asking the sentinels at sentinels (each "host:port") which
// node that is; after a failover it reconnects to the new master. opts are
// as for NewClientWith and apply to the master and its replicas; the
// sentinels are reached with the same TLS configuration (TLSConfig or a
// CA), authenticated with SentinelUsername and SentinelPassword when given.
// Like NewClient it does not connect yet.
func NewSentinelClient(master string, sentinels []string, opts ClientOptions) (*goredis.Client, error) {
	if master == "" {
		return nil, errors.New("cluster: no Sentinel master name: give the name the sentinels monitor (sentinel monitor NAME ...)")
	}
	if len(sentinels) == 0 {
		return nil, errors.New("cluster: no Sentinel address: give host:port of one or more sentinels")
	}
	for _, a := range sentinels {
		if a == "" {
			return nil, errors.New("cluster: empty Sentinel address: give host:port of each sentinel")
		}
	}
	o := &goredis.Options{}
	if opts.CAFile != "" || len(opts.CAPEM) > 0 || opts.TLSConfig != nil {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	o, err := opts.apply(o, "")
	if err != nil {
		return nil, err
	}
	return goredis.NewFailoverClient(&goredis.FailoverOptions{
		MasterName:       master,
		SentinelAddrs:    sentinels,
		SentinelUsername: opts.SentinelUsername,
		SentinelPassword: opts.SentinelPassword,
		Username:         o.Username,
		Password:         o.Password,
		TLSConfig:        o.TLSConfig,
	}), nil
}
