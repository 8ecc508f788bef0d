package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/history/historytest"
	"github.com/sockline/sockline/internal/testredis"
)

func TestHistoryStore(t *testing.T) {
	srv := testredis.Start(t)
	historytest.Run(t, func(t *testing.T) history.Store {
		rdb, err := redis.NewClient(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		return redis.NewHistory(rdb, redis.HistoryOptions{Prefix: t.Name() + ":"})
	})
}

// A message appended is on the Bus's channel for the topic, framed with its
// position, in offset order.
func TestHistoryPublishesOnTheBus(t *testing.T) {
	srv := testredis.Start(t)
	rdb, err := redis.NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	bus := redis.NewBus(rdb, redis.BusOptions{})
	defer bus.Close()
	h := redis.NewHistory(rdb, redis.HistoryOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan history.Entry, 100)
	unsub, err := bus.Subscribe(ctx, "room", func(_ string, p []byte) {
		e, err := history.ParseFrame(p)
		if err != nil {
			t.Error(err)
			return
		}
		got <- history.Entry{Position: e.Position, Payload: append([]byte(nil), e.Payload...)}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	var ps []history.Position
	for _, m := range []string{"a", "b", "c"} {
		p, err := h.Publish(ctx, "room", []byte(m), history.Bounds{})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for i, m := range []string{"a", "b", "c"} {
		select {
		case e := <-got:
			if e.Position != ps[i] || string(e.Payload) != m {
				t.Fatalf("bus message %d = %v %q, want %v %q", i, e.Position, e.Payload, ps[i], m)
			}
		case <-ctx.Done():
			t.Fatalf("bus message %d never came", i)
		}
	}
}

// Redis restarted empty: the next position has a new epoch, and a client
// at an old position is not recovered (nothing replayed), never replayed
// the new history as if it were the old.
func TestHistoryLostGivesNewEpoch(t *testing.T) {
	srv := testredis.Start(t)
	rdb, err := redis.NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	h := redis.NewHistory(rdb, redis.HistoryOptions{})
	ctx := context.Background()
	var last history.Position
	for range 3 {
		if last, err = h.Publish(ctx, "room", []byte("old"), history.Bounds{}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart(t)
	var p history.Position
	deadline := time.Now().Add(10 * time.Second)
	for {
		// the client reconnects by itself; the first command may fail
		if p, err = h.Publish(ctx, "room", []byte("new"), history.Bounds{}); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if p, err = h.Publish(ctx, "room", []byte("new"), history.Bounds{}); err != nil {
			t.Fatal(err)
		}
	}
	if p.Epoch == last.Epoch {
		t.Fatalf("the epoch %q survived the loss of the history", p.Epoch)
	}
	es, top, err := h.Since(ctx, "room", last, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 0 || history.Recoverable(last, es, top) {
		t.Fatalf("recovered %d entries of another history", len(es))
	}
}

// The keys of one topic share a Redis Cluster slot: they carry the topic as
// a hash tag.
func TestHistoryKeysShareASlot(t *testing.T) {
	srv := testredis.Start(t)
	rdb, err := redis.NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	h := redis.NewHistory(rdb, redis.HistoryOptions{Prefix: "p:"})
	ctx := context.Background()
	if _, err := h.Publish(ctx, "a}b{c", []byte("x"), history.Bounds{}); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, "p:*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	s0, _ := rdb.ClusterKeySlot(ctx, keys[0]).Result()
	s1, _ := rdb.ClusterKeySlot(ctx, keys[1]).Result()
	if s0 != s1 {
		t.Fatalf("keys %v hash to slots %d and %d", keys, s0, s1)
	}
}
