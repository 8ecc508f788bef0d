package redis_test

import (
	"context"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/testredis"
)

func TestClusterAndSentinelClientErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func() error
		want string
	}{
		{"no seed", func() error { _, err := redis.NewClusterClient(nil, redis.ClientOptions{}); return err }, "seed"},
		{"database", func() error {
			_, err := redis.NewClusterClient([]string{"redis://127.0.0.1:7000/2"}, redis.ClientOptions{})
			return err
		}, "database 0 only"},
		{"mixed schemes", func() error {
			_, err := redis.NewClusterClient([]string{"127.0.0.1:7000", "rediss://127.0.0.1:7001"}, redis.ClientOptions{})
			return err
		}, "differs from the first"},
		{"mixed passwords, none shown", func() error {
			_, err := redis.NewClusterClient([]string{"redis://u:secret1@127.0.0.1:7000", "redis://u:secret2@127.0.0.1:7001"}, redis.ClientOptions{})
			return err
		}, "differs from the first"},
		{"CA without TLS", func() error {
			_, err := redis.NewClusterClient([]string{"127.0.0.1:7000"}, redis.ClientOptions{CAPEM: []byte("x")})
			return err
		}, "does not use TLS"},
		{"no master name", func() error {
			_, err := redis.NewSentinelClient("", []string{"127.0.0.1:26379"}, redis.ClientOptions{})
			return err
		}, "master name"},
		{"no sentinel", func() error { _, err := redis.NewSentinelClient("m", nil, redis.ClientOptions{}); return err }, "Sentinel address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.make()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error shows a password: %v", err)
			}
		})
	}
}

// Two seeds are enough: the client learns every master from them.
func TestClusterClientRoundTrip(t *testing.T) {
	rc := testredis.StartCluster(t)
	rdb, err := redis.NewClusterClient(rc.Addrs()[:2], redis.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := rdb.Ping(ctxFor(t)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ForEachMaster(ctxFor(t), func(ctx context.Context, c *goredis.Client) error { return c.Ping(ctx).Err() }); err != nil {
		t.Fatalf("a master learnt from two seeds does not answer: %v", err)
	}
}
