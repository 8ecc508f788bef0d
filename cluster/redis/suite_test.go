package redis_test

import (
	"context"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/cluster/clustertest"
	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/presence"
)

// The cluster suite on each Redis set-up.

func TestSuiteOneRedis(t *testing.T) {
	clustertest.Run(t, func(t testing.TB) clustertest.Engine { return &oneRedis{srv: testredis.Start(t)} })
}

// The history and presence scenarios on one Redis (cluster/redis/history_engines_test.go
// runs the stores' own suites on a Redis Cluster and Sentinel).
func TestHistorySuiteOneRedis(t *testing.T) {
	clustertest.RunHistory(t, func(t testing.TB) clustertest.Engine { return &oneRedis{srv: testredis.Start(t)} })
}

func TestSuiteRedisCluster(t *testing.T) {
	clustertest.Run(t, func(t testing.TB) clustertest.Engine { return &redisCluster{c: testredis.StartCluster(t)} })
}

func TestSuiteSentinel(t *testing.T) {
	clustertest.Run(t, func(t testing.TB) clustertest.Engine { return &sentinel{st: testredis.StartSentinel(t)} })
}

// connect makes a node's Store and Bus on rdb.
func connect(t testing.TB, rdb goredis.UniversalClient, name string, o clustertest.NodeOptions) *clustertest.Node {
	t.Helper()
	store, err := redis.NewStore(rdb, redis.StoreOptions{Node: name, Prefix: o.Namespace, Lease: o.Lease, Tombstone: o.Tombstone})
	if err != nil {
		rdb.Close()
		t.Fatal(err)
	}
	bus := redis.NewBus(rdb, redis.BusOptions{Prefix: o.Namespace, HealthCheck: o.HealthCheck})
	return &clustertest.Node{Store: store, Bus: bus, Close: sync.OnceFunc(func() {
		_ = bus.Close()
		_ = rdb.Close()
	})}
}

// spy calls fn with every payload published on rdb's server (classic
// pub/sub: one Redis, or Sentinel's master).
func spy(t testing.TB, rdb goredis.UniversalClient, fn func([]byte)) func() {
	t.Helper()
	ps := rdb.PSubscribe(context.Background(), "*")
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel() {
			fn([]byte(m.Payload))
		}
	}()
	return sync.OnceFunc(func() {
		_ = ps.Close()
		<-done
		_ = rdb.Close()
	})
}

// oneRedis is one redis-server.
type oneRedis struct{ srv *testredis.Server }

func (e *oneRedis) client(t testing.TB) *goredis.Client {
	t.Helper()
	rdb, err := redis.NewClient(e.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return rdb
}

func (e *oneRedis) Connect(t testing.TB, name string, o clustertest.NodeOptions) *clustertest.Node {
	return connect(t, e.client(t), name, o)
}

// ConnectWithHistory makes the node's history on Redis Streams and its
// presence on the same client.
func (e *oneRedis) ConnectWithHistory(t testing.TB, name string, o clustertest.NodeOptions) (*clustertest.Node, history.Store, presence.Store) {
	rdb := e.client(t)
	return connect(t, rdb, name, o), redis.NewHistory(rdb, redis.HistoryOptions{Prefix: o.Namespace}), redis.NewPresence(rdb, o.Namespace)
}

func (e *oneRedis) Stop(testing.TB)          { e.srv.Stop() }
func (e *oneRedis) Start(t testing.TB)       { e.srv.Restart(t) }
func (e *oneRedis) Failover(testing.TB) bool { return false }
func (e *oneRedis) Spy(t testing.TB, fn func([]byte)) func() {
	return spy(t, e.client(t), fn)
}

// redisCluster is three masters with a replica each.
type redisCluster struct{ c *testredis.Cluster }

func (e *redisCluster) Connect(t testing.TB, name string, o clustertest.NodeOptions) *clustertest.Node {
	t.Helper()
	rdb, err := redis.NewClusterClient(e.c.Addrs(), redis.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return connect(t, rdb, name, o)
}
func (e *redisCluster) Stop(testing.TB)    { e.c.Stop() }
func (e *redisCluster) Start(t testing.TB) { e.c.Restart(t) }
func (e *redisCluster) Failover(t testing.TB) bool {
	e.c.KillMaster(t, nil)
	return true
}

// sentinel is a master, a replica and three sentinels.
type sentinel struct{ st *testredis.Sentinel }

func (e *sentinel) client(t testing.TB) *goredis.Client {
	t.Helper()
	rdb, err := redis.NewSentinelClient(testredis.SentinelMaster, e.st.Addrs(), redis.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rdb
}

func (e *sentinel) Connect(t testing.TB, name string, o clustertest.NodeOptions) *clustertest.Node {
	return connect(t, e.client(t), name, o)
}
func (e *sentinel) Stop(testing.TB)    { e.st.Stop() }
func (e *sentinel) Start(t testing.TB) { e.st.Start(t) }
func (e *sentinel) Failover(t testing.TB) bool {
	e.st.Failover(t, true)
	return true
}
func (e *sentinel) Spy(t testing.TB, fn func([]byte)) func() {
	return spy(t, e.client(t), fn)
}
