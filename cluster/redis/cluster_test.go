package redis_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/rrproxy"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// node is one cluster member: a handler with its own store and bus, served
// on its own port, as a separate process would be.
type node struct {
	name string
	h    *sockjs.Handler
	srv  *httptest.Server
	bus  *redis.Bus
	rdb  interface{ Close() error }
	// h2store is the node's store, for a second service in a test.
	h2store *redis.Store
	// where tells on which node each session's handler runs.
	opened chan string
}

type clusterFixture struct {
	redis *testredis.Server
	nodes []*node
	proxy *rrproxy.Proxy
	// forwardTimeout is the nodes' Cluster.ForwardTimeout; zero means 5 s.
	forwardTimeout time.Duration
	// wrapBus, when set, wraps a node's bus (to drop or hold messages).
	wrapBus func(name string, b *redis.Bus) pubsub.Bus
	// wrapStore, when set, wraps a node's store (to slow it down).
	wrapStore func(name string, s *redis.Store) cluster.Store
}

// echoApp echoes, answers "where?" with the node that runs the handler, and
// "sub T" by subscribing the session to topic T.
func echoApp(name string, opened chan<- string, h func() *sockjs.Handler) sockjs.HandlerFunc {
	return func(ctx context.Context, s *sockjs.Session) {
		select {
		case opened <- s.ID():
		default:
		}
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				return
			}
			switch {
			case msg == "stall":
				time.Sleep(3 * time.Second) // an application that does not read for a while
			case msg == "where?":
				_ = s.Send("node " + name)
			case strings.HasPrefix(msg, "sub "):
				if _, err := h().Subscribe(ctx, s, strings.TrimPrefix(msg, "sub ")); err != nil {
					_ = s.Send("error " + err.Error())
				} else {
					_ = s.Send("ok " + msg)
				}
			case strings.HasPrefix(msg, "close "):
				s.Close(3001, strings.TrimPrefix(msg, "close "))
				return
			default:
				_ = s.Send(msg)
			}
		}
	}
}

func startCluster(t *testing.T, n int, opts sockjs.Options) *clusterFixture {
	t.Helper()
	return (&clusterFixture{redis: testredis.Start(t)}).start(t, n, opts)
}

// start starts n nodes and the proxy in front of them.
func (f *clusterFixture) start(t *testing.T, n int, opts sockjs.Options) *clusterFixture {
	t.Helper()
	var urls []string
	for i := range n {
		nd := f.startNode(t, fmt.Sprintf("n%d", i+1), opts)
		urls = append(urls, nd.srv.URL)
	}
	f.proxy = rrproxy.Start(t, urls...)
	return f
}

func (f *clusterFixture) startNode(t *testing.T, name string, opts sockjs.Options) *node {
	t.Helper()
	rdb, err := redis.NewClient(f.redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	store, err := redis.NewStore(rdb, redis.StoreOptions{Node: name, Lease: time.Second, Tombstone: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	bus := redis.NewBus(rdb, redis.BusOptions{HealthCheck: 300 * time.Millisecond})
	nd := &node{name: name, bus: bus, rdb: rdb, h2store: store, opened: make(chan string, 100)}
	fwd := f.forwardTimeout
	if fwd == 0 {
		fwd = 5 * time.Second
	}
	var b pubsub.Bus = bus
	if f.wrapBus != nil {
		b = f.wrapBus(name, bus)
	}
	var st cluster.Store = store
	if f.wrapStore != nil {
		st = f.wrapStore(name, store)
	}
	opts.Cluster = &sockjs.Cluster{Store: st, Bus: b, Secret: testSecret, RenewInterval: 250 * time.Millisecond, ForwardTimeout: fwd}
	nd.h = sockjs.NewHandler(opts, echoApp(name, nd.opened, func() *sockjs.Handler { return nd.h }))
	mux := http.NewServeMux()
	mux.Handle("/echo/", http.StripPrefix("/echo", nd.h))
	nd.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		nd.stop()
		rdb.Close()
	})
	f.nodes = append(f.nodes, nd)
	return nd
}

// testSecret is the cluster secret of the test nodes.
var testSecret = []byte("test cluster secret, 32 bytes...")

var stopOnce sync.Map

// crash cuts the node off as a dead process would be: its port closes and
// it stops talking to Redis (no renewal, no release), while its handler
// lives on unseen until the test ends.
func (nd *node) crash() {
	// Redis first: a killed process sends nothing more, not even the
	// cancels its requests' ends would send.
	_ = nd.bus.Close()
	_ = nd.rdb.Close()
	nd.srv.CloseClientConnections()
	nd.srv.Close()
}

// stop shuts the node down gracefully.
func (nd *node) stop() {
	if _, done := stopOnce.LoadOrStore(nd, true); done {
		return
	}
	nd.srv.CloseClientConnections()
	nd.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = nd.h.Shutdown(ctx)
	_ = nd.bus.Close()
}

func dial(t *testing.T, url, transport string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, &client.Options{Transports: []string{transport}})
	if err != nil {
		t.Fatalf("dial %s over %s: %v", url, transport, err)
	}
	t.Cleanup(func() { _ = c.Close(1000, "bye") })
	return c
}

func recv(t *testing.T, c *client.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return m
}

var httpTransports = []string{client.XHRStreaming, client.XHRPolling, client.EventSource}

// Every HTTP transport echoes through a proxy that sends each request to the
// next node: the sends and polls of one session land on every node.
func TestClusterEchoThroughRoundRobinProxy(t *testing.T) {
	f := startCluster(t, 3, sockjs.Options{})
	for _, tr := range httpTransports {
		t.Run(tr, func(t *testing.T) {
			c := dial(t, f.proxy.URL+"/echo", tr)
			const n = 300
			var want []string
			for i := range n {
				m := fmt.Sprintf("%d ☃ \u2028 \U0001F600 %s", i, strings.Repeat("x", i%50))
				want = append(want, m)
				if err := c.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				if got := recv(t, c); got != want[i] {
					t.Fatalf("message %d: got %q, want %q", i, got, want[i])
				}
			}
		})
	}
	served := f.proxy.Served()
	for i, n := range served {
		if n == 0 {
			t.Fatalf("node %d served no request: the proxy did not spread the load (%v)", i+1, served)
		}
	}
}

// The session's handler runs on the node that created it, whichever node
// later requests reach.
func TestClusterHandlerRunsOnTheOwnerOnly(t *testing.T) {
	f := startCluster(t, 3, sockjs.Options{})
	c := dial(t, f.proxy.URL+"/echo", client.XHRPolling)
	first := ""
	for range 6 {
		if err := c.Send("where?"); err != nil {
			t.Fatal(err)
		}
		got := recv(t, c)
		if first == "" {
			first = got
		}
		if got != first {
			t.Fatalf("handler answered from %q, then from %q", first, got)
		}
	}
	opened := 0
	for _, nd := range f.nodes {
		opened += len(nd.opened)
	}
	if opened != 1 {
		t.Fatalf("%d handlers started for one session, want 1", opened)
	}
}
