package benchmarks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/sockjs"
)

// clusterNodes starts n echo nodes sharing one private redis-server; n == 0
// starts one node without a cluster, the baseline.
func clusterNodes(b *testing.B, n int) []*clusterNode {
	b.Helper()
	local := n == 0
	if local {
		n = 1
	}
	rs := testredis.Start(b)
	var nodes []*clusterNode
	for i := range n {
		rdb, err := redis.NewClient(rs.URL())
		if err != nil {
			b.Fatal(err)
		}
		store, _ := redis.NewStore(rdb, redis.StoreOptions{Node: fmt.Sprint("n", i)})
		bus := redis.NewBus(rdb, redis.BusOptions{})
		cn := &clusterNode{}
		opts := sockjs.Options{Cluster: &sockjs.Cluster{Store: store, Bus: bus, Secret: []byte("benchmark cluster secret........")}}
		if local {
			opts.Cluster = nil
		}
		cn.h = sockjs.NewHandler(opts,
			func(ctx context.Context, s *sockjs.Session) {
				cn.opened.Add(1)
				for {
					m, err := s.Recv(ctx)
					if err != nil {
						return
					}
					_ = s.Send(m)
				}
			})
		cn.srv = httptest.NewServer(cn.h)
		b.Cleanup(func() {
			cn.srv.CloseClientConnections()
			cn.srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = cn.h.Shutdown(ctx)
			_ = bus.Close()
			_ = rdb.Close()
		})
		nodes = append(nodes, cn)
	}
	return nodes
}

type clusterNode struct {
	h      *sockjs.Handler
	srv    *httptest.Server
	opened sync.WaitGroup
}

func mustPost(b *testing.B, c *http.Client, url, body, want string) {
	res, err := c.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if want != "" && string(got) != want {
		b.Fatalf("POST %s: %q, want %q", url, got, want)
	}
}

// BenchmarkClusterRoundTrip is one message sent with xhr_send and received
// with an xhr poll, both on the node that owns the session (local) or both
// on another node (forwarded: every request carried to the owner over
// Redis). Compare cpu-ns/op and ns/op between the two.
func BenchmarkClusterRoundTrip(b *testing.B) {
	for _, route := range []string{"local", "forwarded"} {
		b.Run("route="+route, func(b *testing.B) {
			nodes := clusterNodes(b, 2)
			c := &http.Client{}
			owner := nodes[0].srv.URL + "/000/bench/"
			mustPost(b, c, owner+"xhr", "", "o\n")
			via := owner
			if route == "forwarded" {
				via = nodes[1].srv.URL + "/000/bench/"
			}
			cpu := startCPU()
			for b.Loop() {
				mustPost(b, c, via+"xhr_send", `["ping"]`, "")
				mustPost(b, c, via+"xhr", "", "a[\"ping\"]\n")
			}
			cpu.report(b)
		})
	}
}

// BenchmarkClusterBroadcast is one Broadcast reaching every session of three
// nodes (websockets, spread evenly), against the same sessions on one node
// without a cluster; SOCKLINE_BENCH_SESSIONS sets how many (10000 by
// default; clients and servers share this process, so 10000 needs over 20000
// open files: use 9000 under a 20000 limit). One op ends when every session
// has the message.
func BenchmarkClusterBroadcast(b *testing.B) {
	total := 10000
	if v, err := strconv.Atoi(os.Getenv("SOCKLINE_BENCH_SESSIONS")); err == nil && v > 0 {
		total = v
	}
	for _, n := range []int{0, 3} {
		name := "nodes=3"
		if n == 0 {
			name = "nodes=1,no-cluster"
		}
		b.Run(name, func(b *testing.B) { benchBroadcast(b, n, total) })
	}
}

func benchBroadcast(b *testing.B, n, total int) {
	nodes := clusterNodes(b, n)
	var got sync.WaitGroup
	var conns []*websocket.Conn
	for i := range total {
		nd := nodes[i%len(nodes)]
		url := "ws" + strings.TrimPrefix(nd.srv.URL, "http") + fmt.Sprintf("/000/s%d/websocket", i)
		conn, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatalf("websocket %d: %v", i, err)
		}
		if _, p, err := conn.ReadMessage(); err != nil || string(p) != "o" {
			b.Fatalf("websocket %d opened with %q, %v", i, p, err)
		}
		conns = append(conns, conn)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, c := range conns {
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
				got.Done()
			}
		}()
	}
	cpu := startCPU()
	for b.Loop() {
		got.Add(total)
		nodes[0].h.Broadcast("tick")
		got.Wait()
	}
	cpu.report(b)
	b.ReportMetric(float64(total), "sessions")
}
