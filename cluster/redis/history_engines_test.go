package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/history/historytest"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/presence"
	"github.com/sockline/sockline/presence/presencetest"
)

// The history and presence suites on the Redis set-ups past one instance:
// a Redis Cluster (keys of one topic share a slot; the stream and its
// metadata move together) and Sentinel's master.
func TestHistoryAndPresenceOnRedisCluster(t *testing.T) {
	rc := testredis.StartCluster(t)
	runHistoryAndPresence(t, func(t *testing.T) goredis.UniversalClient {
		rdb, err := redis.NewClusterClient(rc.Addrs(), redis.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return rdb
	})
}

func TestHistoryAndPresenceOnSentinel(t *testing.T) {
	st := testredis.StartSentinel(t)
	runHistoryAndPresence(t, func(t *testing.T) goredis.UniversalClient {
		rdb, err := redis.NewSentinelClient(testredis.SentinelMaster, st.Addrs(), redis.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return rdb
	})
}

func runHistoryAndPresence(t *testing.T, client func(t *testing.T) goredis.UniversalClient) {
	t.Run("history", func(t *testing.T) {
		historytest.Run(t, func(t *testing.T) history.Store {
			rdb := client(t)
			t.Cleanup(func() { rdb.Close() })
			return redis.NewHistory(rdb, redis.HistoryOptions{Prefix: t.Name() + ":"})
		})
	})
	t.Run("presence", func(t *testing.T) {
		presencetest.Run(t, func(t *testing.T) presence.Store {
			rdb := client(t)
			t.Cleanup(func() { rdb.Close() })
			return redis.NewPresence(rdb, t.Name()+":")
		})
	})
}
