package run

import (
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

func TestRedisClientPicksTheSetUpTheFlagsName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     ClusterConfig
		wantErr string
		check   func(goredis.UniversalClient) bool
	}{
		{"one Redis", ClusterConfig{Redis: "127.0.0.1:6379"}, "", func(c goredis.UniversalClient) bool { _, ok := c.(*goredis.Client); return ok }},
		{"cluster", ClusterConfig{RedisCluster: "127.0.0.1:7000, 127.0.0.1:7001"}, "", func(c goredis.UniversalClient) bool { _, ok := c.(*goredis.ClusterClient); return ok }},
		{"sentinel", ClusterConfig{RedisSentinel: "mymaster@127.0.0.1:26379,127.0.0.1:26380"}, "", func(c goredis.UniversalClient) bool { _, ok := c.(*goredis.Client); return ok }},
		{"two set-ups", ClusterConfig{Redis: "127.0.0.1:6379", RedisCluster: "127.0.0.1:7000"}, "give one of", nil},
		{"empty seeds", ClusterConfig{RedisCluster: " , "}, "-redis-cluster", nil},
		{"sentinel without master", ClusterConfig{RedisSentinel: "127.0.0.1:26379"}, "MASTER@HOST:PORT", nil},
		{"sentinel without addresses", ClusterConfig{RedisSentinel: "mymaster@"}, "MASTER@HOST:PORT", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := redisClient(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !tc.check(c) {
				t.Fatalf("client %T is not the set-up's", c)
			}
		})
	}
}
