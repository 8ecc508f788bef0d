package nats_test

// Fan-out and carried-request benchmarks over three nodes, on NATS, one
// Redis and a three-master Redis Cluster in one run (issue 21, item 5).
// The nodes and the nats-server run in this process; redis-server does
// not, so each figure of CPU adds what the Redis servers report (INFO cpu,
// summed over every server of the cluster) to this process's (getrusage):
// cpu-us/delivery is comparable across engines; process-cpu-us/delivery is
// the nodes' share (with NATS: nodes and server).
//
//	go test -run '^$' -bench 'FanOut|CarriedSaturation' -benchtime 2000x ./cluster/nats/

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// fanEngine is an engine of the fan-out benchmarks: its nodes, and the CPU
// its out-of-process servers have used so far (zero for NATS, in process).
type fanEngine struct {
	name      string
	make      engineFunc
	serverCPU func(tb testing.TB) time.Duration
}

// fanEngines starts NATS, one Redis and a Redis Cluster for b.
func fanEngines(b *testing.B) []fanEngine {
	srv := natstest.Start(b)
	one := testredis.Start(b)
	rc := testredis.StartCluster(b)
	// A lease of 10 s: a node of a saturated process may renew late, and
	// a lapsed registration would end the sessions being measured.
	const lease = 10 * time.Second
	redisNode := func(tb testing.TB, rdb goredis.UniversalClient, name string) (cluster.Store, pubsub.Bus, func()) {
		st, err := redis.NewStore(rdb, redis.StoreOptions{Node: name, Lease: lease, Tombstone: time.Minute})
		if err != nil {
			tb.Fatal(err)
		}
		bus := redis.NewBus(rdb, redis.BusOptions{})
		return st, bus, sync.OnceFunc(func() { _ = bus.Close(); _ = rdb.Close() })
	}
	return []fanEngine{
		{"nats", func(tb testing.TB, name string) (cluster.Store, pubsub.Bus, func()) {
			nc, err := nats.Connect(srv.URL())
			if err != nil {
				tb.Fatal(err)
			}
			st, err := nats.NewStore(nc, nats.StoreOptions{Node: name, Lease: lease, Tombstone: time.Minute})
			if err != nil {
				nc.Close()
				tb.Fatal(err)
			}
			bus, err := nats.NewBus(nc, nats.BusOptions{})
			if err != nil {
				nc.Close()
				tb.Fatal(err)
			}
			return st, bus, sync.OnceFunc(func() { _ = bus.Close(); nc.Close() })
		}, func(testing.TB) time.Duration { return 0 }},
		{"redis", func(tb testing.TB, name string) (cluster.Store, pubsub.Bus, func()) {
			rdb, err := redis.NewClient(one.URL())
			if err != nil {
				tb.Fatal(err)
			}
			return redisNode(tb, rdb, name)
		}, func(tb testing.TB) time.Duration { return redisCPU(tb, []string{one.Addr()}) }},
		{"rcluster", func(tb testing.TB, name string) (cluster.Store, pubsub.Bus, func()) {
			rdb, err := redis.NewClusterClient(rc.Addrs(), redis.ClientOptions{})
			if err != nil {
				tb.Fatal(err)
			}
			return redisNode(tb, rdb, name)
		}, func(tb testing.TB) time.Duration { return redisCPU(tb, rc.Addrs()) }},
	}
}

// redisCPU sums used_cpu_user and used_cpu_sys of INFO cpu over the
// servers at addrs.
func redisCPU(tb testing.TB, addrs []string) time.Duration {
	var total time.Duration
	for _, a := range addrs {
		c := goredis.NewClient(&goredis.Options{Addr: a})
		info, err := c.Info(context.Background(), "cpu").Result()
		_ = c.Close()
		if err != nil {
			tb.Fatalf("INFO cpu on %s: %v", a, err)
		}
		for line := range strings.SplitSeq(info, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					tb.Fatalf("INFO cpu on %s: %q: %v", a, line, err)
				}
				total += time.Duration(f * float64(time.Second))
			}
		}
	}
	return total
}

// processCPU is the user and system CPU this process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fanApp subscribes every session to topic "fan" (when topic is set) and
// echoes.
func fanApp(h func() *sockjs.Handler, topic bool) sockjs.HandlerFunc {
	return func(ctx context.Context, s *sockjs.Session) {
		if topic {
			if _, err := h().Subscribe(ctx, s, "fan"); err != nil {
				_ = s.Send("error " + err.Error())
				return
			}
		}
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				return
			}
			_ = s.Send(m)
		}
	}
}

// BenchmarkFanOut: b.N messages from node 1, by Broadcast or by Publish on
// a topic every session subscribed to, each delivered to 20 websocket
// sessions on each of three nodes. deliveries/s until the last session
// has the last message; p99 from publish to delivery; CPU per delivery.
func BenchmarkFanOut(b *testing.B) {
	for _, e := range fanEngines(b) {
		for _, mode := range []string{"broadcast", "topic"} {
			b.Run("engine="+e.name+"/"+mode, func(b *testing.B) {
				hs, urls := fanNodes(b, e.make, 3, mode == "topic")
				const perNode = 20
				var conns []*client.Conn
				for _, u := range urls {
					for range perNode {
						conns = append(conns, dialB(b, u+"/echo", client.WebSocket))
					}
				}
				for _, c := range conns { // every handler runs, every subscription is made
					echoB(b, c, 1)
				}
				lat := make([][]time.Duration, len(conns))
				cpu0, srv0 := processCPU(b), e.serverCPU(b)
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for k, c := range conns {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
						defer cancel()
						lat[k] = make([]time.Duration, 0, b.N)
						for i := range b.N {
							m, err := c.Recv(ctx)
							if err != nil {
								b.Errorf("message %d: %v", i, err)
								return
							}
							seq, sent, _ := strings.Cut(m, " ")
							ns, _ := strconv.ParseInt(sent, 10, 64)
							if seq != strconv.Itoa(i) {
								b.Errorf("got %q, want message %d", m, i)
								return
							}
							lat[k] = append(lat[k], time.Since(time.Unix(0, ns)))
						}
					}()
				}
				ctx := context.Background()
				for i := range b.N {
					m := strconv.Itoa(i) + " " + strconv.FormatInt(time.Now().UnixNano(), 10)
					if mode == "topic" {
						if err := hs[0].Publish(ctx, "fan", m); err != nil {
							b.Fatal(err)
						}
					} else {
						hs[0].Broadcast(m)
					}
				}
				wg.Wait()
				wall := time.Since(start)
				b.StopTimer()
				cpu, srv := processCPU(b)-cpu0, e.serverCPU(b)-srv0
				all := slices.Concat(lat...)
				if len(all) == 0 {
					return
				}
				slices.Sort(all)
				n := float64(len(all))
				b.ReportMetric(n/wall.Seconds(), "deliveries/s")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
				b.ReportMetric(float64((cpu+srv).Nanoseconds())/1e3/n, "cpu-us/delivery")
				b.ReportMetric(float64(cpu.Nanoseconds())/1e3/n, "process-cpu-us/delivery")
			})
		}
	}
}

// BenchmarkCarriedSaturation: xhr-polling echoes through the round-robin
// proxy over three nodes (two requests in three carried to the owner),
// with more and more sessions, one message in flight each: carried
// requests per second until they stop growing, and the engine's CPU per
// request.
func BenchmarkCarriedSaturation(b *testing.B) {
	for _, e := range fanEngines(b) {
		for _, sessions := range []int{4, 16, 64} {
			b.Run(fmt.Sprintf("engine=%s/sessions=%d", e.name, sessions), func(b *testing.B) {
				_, _, proxy := benchNodes(b, e.make, 3)
				conns := make([]*client.Conn, sessions)
				for i := range conns {
					conns[i] = dialB(b, proxy.URL+"/echo", client.XHRPolling)
					echoB(b, conns[i], 3) // warm: owners cached, connections pooled
				}
				cpu0, srv0 := processCPU(b), e.serverCPU(b)
				all, wall := echoAll(b, conns, max(b.N/sessions, 1))
				cpu, srv := processCPU(b)-cpu0, e.serverCPU(b)-srv0
				if len(all) == 0 {
					return
				}
				n := float64(len(all))
				b.ReportMetric(n/wall.Seconds(), "echo/s")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
				b.ReportMetric(float64(srv.Nanoseconds())/1e3/n, "engine-cpu-us/echo")
				b.ReportMetric(float64((cpu+srv).Nanoseconds())/1e3/n, "cpu-us/echo")
			})
		}
	}
}

// fanNodes starts n nodes on mk running fanApp.
func fanNodes(b *testing.B, mk engineFunc, n int, topic bool) ([]*sockjs.Handler, []string) {
	var hs []*sockjs.Handler
	var urls []string
	for i := range n {
		st, bus, closeEngine := mk(b, fmt.Sprint("n", i+1))
		var h *sockjs.Handler
		h = sockjs.NewHandler(sockjs.Options{Cluster: &sockjs.Cluster{Store: st, Bus: bus, Secret: testSecret, RenewInterval: 250 * time.Millisecond}},
			fanApp(func() *sockjs.Handler { return h }, topic))
		u := serve(b, h, closeEngine)
		hs = append(hs, h)
		urls = append(urls, u)
	}
	return hs, urls
}

// serve serves h under /echo/ until b ends, then shuts it down and calls
// closeEngine.
func serve(b *testing.B, h *sockjs.Handler, closeEngine func()) string {
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
	return srv.URL
}
