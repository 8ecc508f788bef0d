package redis

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/internal/testredis"
)

// newClusterBuses returns n buses, each on its own client of c.
func newClusterBuses(t *testing.T, c *testredis.Cluster, n int) ([]*Bus, []*goredis.ClusterClient) {
	t.Helper()
	var buses []*Bus
	var clients []*goredis.ClusterClient
	for range n {
		rdb, err := NewClusterClient(c.Addrs(), ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b := NewBus(rdb, BusOptions{HealthCheck: 200 * time.Millisecond})
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Error(err)
			}
			rdb.Close()
		})
		buses = append(buses, b)
		clients = append(clients, rdb)
	}
	return buses, clients
}

// topicCounter counts payloads per topic and text.
type topicCounter struct {
	mu  sync.Mutex
	got map[string]int
}

func (c *topicCounter) handle(topic string, p []byte) {
	c.mu.Lock()
	c.got[topic+" "+string(p)]++
	c.mu.Unlock()
}

func (c *topicCounter) count(topic, p string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[topic+" "+p]
}

// On a Redis Cluster the bus uses sharded pub/sub: topics spread over the
// masters reach every node, PublishCount counts the nodes, and after a
// master is killed the subscriptions of its slots move to the replica that
// took over.
func TestBusShardedOnRedisClusterSurvivesAFailover(t *testing.T) {
	rc := testredis.StartCluster(t)
	buses, clients := newClusterBuses(t, rc, 3)
	ctx := context.Background()
	var topics []string
	masters := map[string]bool{}
	for i := range 24 {
		topic := fmt.Sprintf("news/%d", i)
		topics = append(topics, topic)
		m, err := clients[0].MasterForKey(ctx, buses[0].channel(topic))
		if err != nil {
			t.Fatal(err)
		}
		masters[m.Options().Addr] = true
	}
	if len(masters) != 3 {
		t.Fatalf("the topics' channels live on %d masters, want all 3", len(masters))
	}
	counters := make([]*topicCounter, len(buses))
	for i, b := range buses {
		counters[i] = &topicCounter{got: map[string]int{}}
		for _, topic := range topics {
			if _, err := b.Subscribe(ctx, topic, counters[i].handle); err != nil {
				t.Fatal(err)
			}
		}
	}
	publishAll := func(round string) {
		t.Helper()
		for _, topic := range topics {
			n, err := buses[0].PublishCount(ctx, topic, []byte(round))
			if err != nil {
				t.Fatalf("publish %s on %s: %v", round, topic, err)
			}
			if n != len(buses) {
				t.Fatalf("publish %s on %s reached %d nodes, want %d", round, topic, n, len(buses))
			}
		}
		for i, c := range counters {
			waitUntil(t, 5*time.Second, func() bool {
				for _, topic := range topics {
					if c.count(topic, round) != 1 {
						return false
					}
				}
				return true
			}, fmt.Sprintf("node %d did not get round %s on every topic exactly once", i, round))
		}
	}
	publishAll("before")

	rc.KillMaster(t, nil)
	// Until every bus has moved its subscriptions, a publish may reach
	// fewer nodes; once they all have, every topic reaches every node.
	// They must follow well within the tunnel's forward timeout (10 s by
	// default), past which a node that does not listen is taken for dead.
	deadline := time.Now().Add(5 * time.Second)
	for round := 0; ; round++ {
		ok := true
		for _, topic := range topics {
			n, err := buses[0].PublishCount(ctx, topic, []byte("probe"))
			if err != nil || n != len(buses) {
				ok = false
				break
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the buses did not subscribe again at the new master within 5s of the failover")
		}
		time.Sleep(100 * time.Millisecond)
	}
	publishAll("after")
}

func TestSlotIsRedisClusterKeySlot(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want int
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"hello", 866},
		{"{foo}.anything", 12182},
		{"x{foo}y{bar}", 12182},
		{"{}foo", slot("{}foo")}, // an empty tag hashes the whole key
		{"{foo", slot("{foo")},
	} {
		if got := slot(tc.key); got != tc.want {
			t.Errorf("slot(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
	if slot("{}foo") == slot("foo") || slot("{foo") == slot("foo") {
		t.Error("a key with an empty or unclosed tag hashed as its would-be tag")
	}
}

// A whole Redis Cluster restarting (empty, on the same addresses) leaves
// every subscription in place once it is back: a slot's channels are
// subscribed again on one connection (before: go-redis subscribed the
// channels of several slots in one SSUBSCRIBE, which Redis refused, and
// the node went deaf for good).
func TestBusShardedRecoversWhenTheWholeClusterRestarts(t *testing.T) {
	rc := testredis.StartCluster(t)
	buses, _ := newClusterBuses(t, rc, 1)
	b := buses[0]
	ctx := context.Background()
	var topics []string
	for i := range 40 {
		topic := fmt.Sprintf("room/%d", i)
		topics = append(topics, topic)
		if _, err := b.Subscribe(ctx, topic, func(string, []byte) {}); err != nil {
			t.Fatal(err)
		}
	}
	rc.Stop()
	rc.Restart(t)
	waitUntil(t, 10*time.Second, func() bool {
		for _, topic := range topics {
			if n, err := b.PublishCount(ctx, topic, []byte("x")); err != nil || n != 1 {
				return false
			}
		}
		return true
	}, "the bus did not hear every topic again within 10s of the cluster coming back")
}
