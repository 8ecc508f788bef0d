package nats_test

// Benchmarks of history and presence on NATS against the same on one Redis,
// in one run (issue 22, item 6):
//
//	go test -run '^$' -bench HistoryPublish -benchtime 5000x -count 3 ./cluster/nats/
//	go test -run '^$' -bench HistoryRecover -benchtime 200x -count 2 ./cluster/nats/
//	go test -run '^$' -bench Presence10k -benchtime 10x ./cluster/nats/
//
// The nats-server runs in this process (unless $SOCKLINE_BENCH_NATS names
// one of its own), redis-server in its own: so the CPU figure is the whole
// cost of a message, client and server, "cpu-µs/msg": this process's CPU
// time, plus redis-server's for Redis (INFO cpu). Compare the engines by
// ratios within one run, not across machines.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/presence"
	"github.com/sockline/sockline/pubsub"
)

// histBenchPayload is a chat line as the chat example sends it (~100 bytes).
var histBenchPayload = []byte(`{"type":"message","user":"ann","transport":"websocket","text":"hello world, how are you today?"}`)

// histEngine is one engine's bus, history and presence, and its server's
// CPU seconds so far (0 when the server runs in this process).
type histEngine struct {
	name      string
	bus       pubsub.Bus
	hist      history.Store
	pres      presence.Store
	serverCPU func() float64
}

// redisInfo reads one numeric field of an INFO section.
func redisInfo(b *testing.B, rdb goredis.UniversalClient, section, field string) float64 {
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

// histEngines starts NATS and Redis for b, NATS first.
func histEngines(b *testing.B) []histEngine {
	srv := natstest.Start(b)
	if u := os.Getenv("SOCKLINE_BENCH_NATS"); u != "" {
		srv = natstest.External(u)
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	nbus, err := nats.NewBus(nc, nats.BusOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = nbus.Close() })
	nhist, err := nbus.History(nats.HistoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	npres, err := nbus.Presence(nats.PresenceOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rsrv := testredis.Start(b)
	rdb, err := redis.NewClient(rsrv.URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rdb.Close() })
	rbus := redis.NewBus(rdb, redis.BusOptions{})
	b.Cleanup(func() { _ = rbus.Close() })
	return []histEngine{
		{"nats", nbus, nhist, npres, func() float64 { return 0 }},
		{"redis", rbus, rbus.History(), rbus.Presence(), func() float64 {
			return redisInfo(b, rdb, "cpu", "used_cpu_sys") + redisInfo(b, rdb, "cpu", "used_cpu_user")
		}},
	}
}

// Publish one message, without history (the Bus's publish) and with it
// (History.Publish: stored, then delivered on the bus), with this node
// subscribed to the topic; each message is waited for on the bus, so the
// figure is the cost of a delivered message.
func BenchmarkHistoryPublish(b *testing.B) {
	ctx := context.Background()
	for _, e := range histEngines(b) {
		for _, kind := range []string{"bus", "history"} {
			b.Run(e.name+"/"+kind, func(b *testing.B) {
				topic := "bench-" + kind + strconv.Itoa(b.N)
				got := make(chan struct{}, 1<<16)
				unsub, err := e.bus.Subscribe(ctx, topic, func(string, []byte) { got <- struct{}{} })
				if err != nil {
					b.Fatal(err)
				}
				defer unsub()
				bounds := history.Bounds{Size: 1 << 20}
				cpu0, srv0 := processCPU(b).Seconds(), e.serverCPU()
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					if kind == "bus" {
						err = e.bus.Publish(ctx, topic, histBenchPayload)
					} else {
						_, err = e.hist.Publish(ctx, topic, histBenchPayload, bounds)
					}
					if err != nil {
						b.Fatal(err)
					}
					<-got
					n++
				}
				b.ReportMetric((processCPU(b).Seconds()-cpu0+e.serverCPU()-srv0)*1e6/float64(n), "cpu-µs/msg")
			})
		}
	}
}

// Recover 1000 messages: read them from the store and join them with the
// live stream in a Cursor, as a subscription from a position does.
func BenchmarkHistoryRecover1000(b *testing.B) {
	ctx := context.Background()
	for _, e := range histEngines(b) {
		b.Run(e.name, func(b *testing.B) {
			var from history.Position
			for i := range 2000 {
				p, err := e.hist.Publish(ctx, "news", histBenchPayload, history.Bounds{Size: 2000})
				if err != nil {
					b.Fatal(err)
				}
				if i == 999 {
					from = p
				}
			}
			cpu0, srv0, n := processCPU(b).Seconds(), e.serverCPU(), 0
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				c := &history.Cursor{Deliver: func(history.Entry) { got++ }}
				es, top, err := e.hist.Since(ctx, "news", from, 1000)
				if err != nil || !history.Recoverable(from, es, top) {
					b.Fatalf("not recoverable: %d entries, %v", len(es), err)
				}
				c.Replay(es, top)
				if got != 1000 {
					b.Fatalf("replayed %d", got)
				}
				n++
			}
			b.ReportMetric((processCPU(b).Seconds()-cpu0+e.serverCPU()-srv0)*1e3/float64(n), "cpu-ms/op")
		})
	}
}

// Presence of 10k members in one topic: renewing them all (what a node's
// renewal does) and reading them all (Members).
func BenchmarkPresence10k(b *testing.B) {
	ctx := context.Background()
	ms := make([]presence.Member, 10000)
	for i := range ms {
		ms[i] = presence.Member{ID: fmt.Sprintf("%032x", i), Info: `{"user":"user-` + strconv.Itoa(i) + `","transport":"websocket"}`}
	}
	for _, e := range histEngines(b) {
		b.Run(e.name+"/renew-10k", func(b *testing.B) {
			cpu0, srv0, n := processCPU(b).Seconds(), e.serverCPU(), 0
			for b.Loop() {
				if err := e.pres.Join(ctx, "room", time.Minute, ms...); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric((processCPU(b).Seconds()-cpu0+e.serverCPU()-srv0)*1e3/float64(n), "cpu-ms/op")
		})
		b.Run(e.name+"/members-10k", func(b *testing.B) {
			if err := e.pres.Join(ctx, "room", time.Minute, ms...); err != nil {
				b.Fatal(err)
			}
			cpu0, srv0, n := processCPU(b).Seconds(), e.serverCPU(), 0
			b.ReportAllocs()
			for b.Loop() {
				got, _, err := e.pres.Members(ctx, "room")
				if err != nil || len(got) != len(ms) {
					b.Fatalf("%d members, %v", len(got), err)
				}
				n++
			}
			b.ReportMetric((processCPU(b).Seconds()-cpu0+e.serverCPU()-srv0)*1e3/float64(n), "cpu-ms/op")
		})
	}
}
