package nats_test

// Benchmarks of the cluster on NATS against the same on one Redis, in one
// run: carried xhr-polling echoes through the round-robin proxy over two
// nodes, and broadcast deliveries to sessions on two nodes. Everything but
// redis-server runs in this process (the nats-server too, unless
// $SOCKLINE_BENCH_NATS names one of its own), so the figures compare
// throughput and latency, not CPU.
//
//	go test -run '^$' -bench Engines -benchtime 2000x ./cluster/nats/

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/rrproxy"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// engineFunc makes node name's Store and Bus and a function closing them.
type engineFunc func(tb testing.TB, name string) (cluster.Store, pubsub.Bus, func())

// benchEngines starts each engine's server for b and returns its node
// constructors, NATS first.
func benchEngines(b *testing.B) []struct {
	name string
	make engineFunc
} {
	srv := natstest.Start(b)
	if u := os.Getenv("SOCKLINE_BENCH_NATS"); u != "" {
		srv = natstest.External(u) // a nats-server -js of its own, as redis-server is
	}
	rsrv := testredis.Start(b)
	return []struct {
		name string
		make engineFunc
	}{
		{"nats", func(tb testing.TB, name string) (cluster.Store, pubsub.Bus, func()) { return engine(tb, srv, name) }},
		{"redis", func(tb testing.TB, name string) (cluster.Store, pubsub.Bus, func()) {
			rdb, err := redis.NewClient(rsrv.URL())
			if err != nil {
				tb.Fatal(err)
			}
			st, err := redis.NewStore(rdb, redis.StoreOptions{Node: name, Lease: time.Second, Tombstone: time.Minute})
			if err != nil {
				tb.Fatal(err)
			}
			bus := redis.NewBus(rdb, redis.BusOptions{})
			return st, bus, sync.OnceFunc(func() { _ = bus.Close(); _ = rdb.Close() })
		}},
	}
}

// benchNodes starts n echo nodes on mk and a round-robin proxy in front.
func benchNodes(b *testing.B, mk engineFunc, n int) ([]*sockjs.Handler, []string, *rrproxy.Proxy) {
	var hs []*sockjs.Handler
	var urls []string
	for i := range n {
		st, bus, closeEngine := mk(b, fmt.Sprint("n", i+1))
		h := sockjs.NewHandler(sockjs.Options{Cluster: &sockjs.Cluster{Store: st, Bus: bus, Secret: testSecret, RenewInterval: 250 * time.Millisecond}},
			func(ctx context.Context, s *sockjs.Session) {
				for {
					m, err := s.Recv(ctx)
					if err != nil {
						return
					}
					_ = s.Send(m)
				}
			})
		mux := http.NewServeMux()
		mux.Handle("/echo/", http.StripPrefix("/echo", h))
		srv := httptest.NewServer(mux)
		b.Cleanup(func() {
			srv.CloseClientConnections()
			srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = h.Shutdown(ctx)
			closeEngine()
		})
		hs = append(hs, h)
		urls = append(urls, srv.URL)
	}
	return hs, urls, rrproxy.Start(b, urls...)
}

// BenchmarkEnginesCarriedXHRPolling: b.N echoes over xhr-polling sessions
// (one message in flight each) through the proxy over two nodes: about
// half the polls and sends are carried to the owner.
func BenchmarkEnginesCarriedXHRPolling(b *testing.B) {
	for _, e := range benchEngines(b) {
		for _, sessions := range []int{1, 8} {
			b.Run(fmt.Sprintf("engine=%s/sessions=%d", e.name, sessions), func(b *testing.B) {
				_, _, proxy := benchNodes(b, e.make, 2)
				conns := make([]*client.Conn, sessions)
				for i := range conns {
					conns[i] = dialB(b, proxy.URL+"/echo", client.XHRPolling)
					echoB(b, conns[i], 20) // warm: owners cached, connections pooled
				}
				all, wall := echoAll(b, conns, max(b.N/sessions, 1))
				b.ReportMetric(float64(len(all))/wall.Seconds(), "echo/s")
				b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
			})
		}
	}
}

// BenchmarkEnginesBroadcast: b.N broadcasts from one node, each to 20
// websocket sessions on each of two nodes; deliveries per second until the
// last session has the last one.
func BenchmarkEnginesBroadcast(b *testing.B) {
	for _, e := range benchEngines(b) {
		b.Run("engine="+e.name, func(b *testing.B) {
			hs, urls, _ := benchNodes(b, e.make, 2)
			const perNode = 20
			var conns []*client.Conn
			for _, u := range urls {
				for range perNode {
					conns = append(conns, dialB(b, u+"/echo", client.WebSocket))
				}
			}
			for _, c := range conns { // every handler runs
				echoB(b, c, 1)
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					for i := range b.N {
						m, err := c.Recv(ctx)
						if err != nil {
							b.Errorf("broadcast %d: %v", i, err)
							return
						}
						if want := fmt.Sprint("b", i); m != want {
							b.Errorf("got %q, want %q", m, want)
							return
						}
					}
				}()
			}
			for i := range b.N {
				hs[0].Broadcast(fmt.Sprint("b", i))
			}
			wg.Wait()
			wall := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N*len(conns))/wall.Seconds(), "deliveries/s")
			b.ReportMetric(float64(b.N)/wall.Seconds(), "broadcasts/s")
		})
	}
}

func dialB(b *testing.B, url, transport string) *client.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, &client.Options{Transports: []string{transport}})
	if err != nil {
		b.Fatalf("dial %s: %v", transport, err)
	}
	b.Cleanup(func() { _ = c.Close(1000, "") })
	return c
}

// echoB sends n messages one at a time and returns each round trip.
func echoB(b *testing.B, c *client.Conn, n int) []time.Duration {
	lat := make([]time.Duration, 0, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range n {
		t0 := time.Now()
		m := fmt.Sprint("m", i)
		if err := c.Send(m); err != nil {
			b.Errorf("send: %v", err)
			return lat
		}
		got, err := c.Recv(ctx)
		if err != nil || got != m {
			b.Errorf("echo %d: %q, %v", i, got, err)
			return lat
		}
		lat = append(lat, time.Since(t0))
	}
	return lat
}

// BenchmarkEnginesBusPublish: b.N publishes in a row on one node's bus,
// heard by another node: the bus alone, under Broadcast.
func BenchmarkEnginesBusPublish(b *testing.B) {
	for _, e := range benchEngines(b) {
		for _, count := range []bool{false, true} {
			b.Run(fmt.Sprintf("engine=%s/count=%v", e.name, count), func(b *testing.B) {
				_, pub, closePub := e.make(b, "pub")
				defer closePub()
				_, sub, closeSub := e.make(b, "sub")
				defer closeSub()
				got := make(chan struct{}, 1)
				n := 0
				cancel, err := sub.Subscribe(context.Background(), "t", func(string, []byte) {
					n++
					if n == b.N {
						got <- struct{}{}
					}
				})
				if err != nil {
					b.Fatal(err)
				}
				defer cancel()
				ctx := context.Background()
				payload := make([]byte, 100)
				b.ResetTimer()
				for range b.N {
					if count {
						_, err = pub.(pubsub.Counter).PublishCount(ctx, "t", payload)
					} else {
						err = pub.Publish(ctx, "t", payload)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				select {
				case <-got:
				case <-time.After(time.Minute):
					b.Fatal("not every payload arrived")
				}
			})
		}
	}
}

// echoAll runs per echoes on each of conns at once, with the benchmark's
// timer running only meanwhile, and returns every round trip, sorted, and
// the wall time they took.
func echoAll(b *testing.B, conns []*client.Conn, per int) ([]time.Duration, time.Duration) {
	lat := make([][]time.Duration, len(conns))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[i] = echoB(b, c, per)
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	return all, wall
}
