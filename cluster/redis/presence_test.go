package redis_test

import (
	"testing"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/presence"
	"github.com/sockline/sockline/presence/presencetest"
)

func TestPresenceStore(t *testing.T) {
	srv := testredis.Start(t)
	presencetest.Run(t, func(t *testing.T) presence.Store {
		rdb, err := redis.NewClient(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		return redis.NewPresence(rdb, t.Name()+":")
	})
}
