package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/presence"
)

// benchPayload is a chat line as the chat example sends it (~100 bytes).
var benchPayload = []byte(`{"type":"message","user":"ann","transport":"websocket","text":"hello world, how are you today?"}`)

// info reads one numeric field of INFO section.
func info(b *testing.B, rdb goredis.UniversalClient, section, field string) float64 {
	b.Helper()
	s, err := rdb.Info(context.Background(), section).Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatalf("INFO %s has no %s", section, field)
	return 0
}

func redisCPU(b *testing.B, rdb goredis.UniversalClient) float64 {
	return info(b, rdb, "cpu", "used_cpu_sys") + info(b, rdb, "cpu", "used_cpu_user")
}

// Publish one message, without history (the Bus's PUBLISH) and with it
// (the history script: XADD, trims, PUBLISH), with one node subscribed.
// Reports Redis CPU per message and, with history, Redis memory per
// retained message.
func BenchmarkRedisPublish(b *testing.B) {
	srv := testredis.Start(b)
	rdb, err := redis.NewClient(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	bus := redis.NewBus(rdb, redis.BusOptions{})
	defer bus.Close()
	ctx := context.Background()
	for _, kind := range []string{"bus", "history"} {
		b.Run(kind, func(b *testing.B) {
			topic := "bench-" + kind + strconv.Itoa(b.N)
			unsub, err := bus.Subscribe(ctx, topic, func(string, []byte) {})
			if err != nil {
				b.Fatal(err)
			}
			defer unsub()
			h := bus.History()
			bounds := history.Bounds{Size: 1 << 30} // keep all: measure memory per message
			mem0, cpu0 := info(b, rdb, "memory", "used_memory"), redisCPU(b, rdb)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if kind == "bus" {
					err = bus.Publish(ctx, topic, benchPayload)
				} else {
					_, err = h.Publish(ctx, topic, benchPayload, bounds)
				}
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric((redisCPU(b, rdb)-cpu0)*1e6/float64(n), "redis-µs-cpu/msg")
			if kind == "history" {
				b.ReportMetric((info(b, rdb, "memory", "used_memory")-mem0)/float64(n), "redis-B/msg")
			}
		})
	}
}

// Recover 1000 messages: read them from the stream and join them with the
// live stream in a Cursor, as a subscription from a position does.
func BenchmarkRedisRecover1000(b *testing.B) {
	srv := testredis.Start(b)
	rdb, err := redis.NewClient(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	h := redis.NewHistory(rdb, redis.HistoryOptions{})
	benchRecover(b, h)
}

func benchRecover(b *testing.B, h history.Store) {
	ctx := context.Background()
	var from history.Position
	for i := range 2000 {
		p, err := h.Publish(ctx, "news", benchPayload, history.Bounds{Size: 2000})
		if err != nil {
			b.Fatal(err)
		}
		if i == 999 {
			from = p
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		c := &history.Cursor{Deliver: func(history.Entry) { n++ }}
		es, top, err := h.Since(ctx, "news", from, 1000)
		if err != nil || !history.Recoverable(from, es, top) {
			b.Fatalf("not recoverable: %d entries, %v", len(es), err)
		}
		c.Replay(es, top)
		if n != 1000 {
			b.Fatalf("replayed %d", n)
		}
	}
}

// Presence of 10k members: joining them (what a node's renewal does, in one
// script), and reading them all (Members).
func BenchmarkRedisPresence10k(b *testing.B) {
	srv := testredis.Start(b)
	rdb, err := redis.NewClient(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	p := redis.NewPresence(rdb, "")
	benchPresence(b, p, func() float64 { return info(b, rdb, "memory", "used_memory") }, func() float64 { return redisCPU(b, rdb) })
}

func benchPresence(b *testing.B, p presence.Store, mem, cpu func() float64) {
	ctx := context.Background()
	ms := make([]presence.Member, 10000)
	for i := range ms {
		ms[i] = presence.Member{ID: fmt.Sprintf("%032x", i), Info: `{"user":"user-` + strconv.Itoa(i) + `","transport":"websocket"}`}
	}
	mem0 := mem()
	b.Run("renew-10k", func(b *testing.B) {
		cpu0, n := cpu(), 0
		for b.Loop() {
			if err := p.Join(ctx, "room", time.Minute, ms...); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric((cpu()-cpu0)*1e3/float64(n), "redis-ms-cpu/op")
	})
	b.Run("members-10k", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, _, err := p.Members(ctx, "room")
			if err != nil || len(got) != len(ms) {
				b.Fatalf("%d members, %v", len(got), err)
			}
		}
		b.ReportMetric((mem()-mem0)/float64(len(ms)), "redis-B/member")
	})
}
