package nats_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/internal/rrproxy"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// engine returns node name's Store and Bus on srv and a function that
// closes them (the bus, then the connection; the store needs nothing):
// the shape an engine-neutral cluster suite takes. The lease is a second
// (JetStream's least), records last a minute.
func engine(t testing.TB, srv *natstest.Server, name string) (cluster.Store, pubsub.Bus, func()) {
	t.Helper()
	return engineWith(t, srv, name, time.Second)
}

// engineWith is engine with another lease.
func engineWith(t testing.TB, srv *natstest.Server, name string, lease time.Duration) (cluster.Store, pubsub.Bus, func()) {
	t.Helper()
	nc, err := nats.Connect(srv.URL(), natsgo.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	store, err := nats.NewStore(nc, nats.StoreOptions{Node: name, Lease: lease, Tombstone: time.Minute})
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	bus, err := nats.NewBus(nc, nats.BusOptions{})
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	return store, bus, sync.OnceFunc(func() {
		_ = bus.Close()
		nc.Close()
	})
}

// node is one cluster member: a handler with its own store and bus, served
// on its own port, as a separate process would be.
type node struct {
	name  string
	h     *sockjs.Handler
	srv   *httptest.Server
	store cluster.Store
	bus   pubsub.Bus
	// closeEngine closes the node's bus and NATS connection.
	closeEngine func()
	// opened tells which sessions' handlers started on this node.
	opened   chan string
	stopOnce sync.Once
}

type clusterFixture struct {
	nats  *natstest.Server
	nodes []*node
	proxy *rrproxy.Proxy
	// forwardTimeout is the nodes' Cluster.ForwardTimeout; zero means 5 s.
	forwardTimeout time.Duration
	// lease is the nodes' StoreOptions.Lease; zero means a second.
	lease time.Duration
	// wrapStore, when set, wraps a node's store (to slow it down).
	wrapStore func(name string, s cluster.Store) cluster.Store
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
	return (&clusterFixture{nats: natstest.Start(t)}).start(t, n, opts)
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
	lease := f.lease
	if lease == 0 {
		lease = time.Second
	}
	store, bus, closeEngine := engineWith(t, f.nats, name, lease)
	nd := &node{name: name, store: store, bus: bus, closeEngine: closeEngine, opened: make(chan string, 100)}
	fwd := f.forwardTimeout
	if fwd == 0 {
		fwd = 5 * time.Second
	}
	if f.wrapStore != nil {
		store = f.wrapStore(name, store)
	}
	opts.Cluster = &sockjs.Cluster{Store: store, Bus: bus, Secret: testSecret, RenewInterval: 250 * time.Millisecond, ForwardTimeout: fwd}
	nd.h = sockjs.NewHandler(opts, echoApp(name, nd.opened, func() *sockjs.Handler { return nd.h }))
	mux := http.NewServeMux()
	mux.Handle("/echo/", http.StripPrefix("/echo", nd.h))
	nd.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		nd.stop()
		closeEngine()
	})
	f.nodes = append(f.nodes, nd)
	return nd
}

// waitRegistered waits until the store counts every node alive: their
// first registrations run in the background.
func (f *clusterFixture) waitRegistered(t *testing.T) {
	t.Helper()
	var incs []string
	for _, nd := range f.nodes {
		incs = append(incs, nd.store.Node())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		alive, err := f.nodes[0].store.Alive(context.Background(), incs)
		if err == nil && !slices.Contains(alive, false) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes are not all registered after 10s: %v, %v", alive, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testSecret is the cluster secret of the test nodes.
var testSecret = []byte("test cluster secret, 32 bytes...")

// crash cuts the node off as a dead process would be: its port closes and
// it stops talking to NATS (no renewal, no release), while its handler
// lives on unseen until the test ends.
func (nd *node) crash() {
	// NATS first: a killed process sends nothing more, not even the
	// cancels its requests' ends would send.
	nd.closeEngine()
	nd.srv.CloseClientConnections()
	nd.srv.Close()
}

// stop shuts the node down gracefully.
func (nd *node) stop() {
	nd.stopOnce.Do(func() {
		nd.srv.CloseClientConnections()
		nd.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = nd.h.Shutdown(ctx)
	})
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

// httpTransports are the client's HTTP transports: every one of them
// spans several requests, which the proxy spreads over the nodes.
var httpTransports = []string{client.XHRStreaming, client.XHRPolling, client.EventSource}

// Every HTTP transport echoes through a proxy that sends each request to the
// next node: the sends and polls of one session land on every node.
func TestClusterEchoThroughRoundRobinProxy(t *testing.T) {
	f := startCluster(t, 3, sockjs.Options{AllowJSONP: true})
	for _, tr := range httpTransports {
		t.Run(tr, func(t *testing.T) {
			c := dial(t, f.proxy.URL+"/echo", tr)
			const n = 200
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

// Broadcast from any node reaches sessions on every node, once each.
func TestClusterBroadcastReachesEveryNode(t *testing.T) {
	f := startCluster(t, 3, sockjs.Options{})
	var conns []*client.Conn
	for _, nd := range f.nodes {
		for _, tr := range []string{client.WebSocket, client.XHRStreaming} {
			conns = append(conns, dial(t, nd.srv.URL+"/echo", tr))
		}
	}
	conns = append(conns, dial(t, f.proxy.URL+"/echo", client.XHRPolling))
	// Wait until every session's handler runs (the dials return at "o").
	time.Sleep(200 * time.Millisecond)
	f.nodes[1].h.Broadcast("to all")
	f.nodes[2].h.Broadcast("again")
	for i, c := range conns {
		got := []string{recv(t, c), recv(t, c)}
		if got[0] != "to all" || got[1] != "again" {
			t.Fatalf("connection %d got %v", i, got)
		}
	}
	for i, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		m, err := c.Recv(ctx)
		cancel()
		if err == nil {
			t.Fatalf("connection %d got an extra message %q", i, m)
		}
	}
}

// Publish on any node reaches the topic's subscribers on every node, once;
// topic names with what NATS subjects forbid stay apart.
func TestClusterTopicsReachEveryNode(t *testing.T) {
	f := startCluster(t, 3, sockjs.Options{})
	var subs []*client.Conn
	for _, nd := range f.nodes {
		for _, tr := range []string{client.WebSocket, client.XHRStreaming} {
			c := dial(t, nd.srv.URL+"/echo", tr)
			if err := c.Send("sub news.*"); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, c); got != "ok sub news.*" {
				t.Fatalf("subscribe: %q", got)
			}
			subs = append(subs, c)
		}
	}
	other := dial(t, f.nodes[0].srv.URL+"/echo", client.XHRStreaming)
	if err := other.Send("sub news.sport"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, other); got != "ok sub news.sport" {
		t.Fatalf("subscribe: %q", got)
	}
	ctx := context.Background()
	for i := range 20 {
		if err := f.nodes[i%3].h.Publish(ctx, "news.*", fmt.Sprint("n", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range subs {
		seen := map[string]bool{}
		for range 20 {
			m := recv(t, c)
			if seen[m] {
				t.Fatalf("subscriber %d got %q twice", i, m)
			}
			seen[m] = true
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if m, err := other.Recv(rctx); err == nil {
		t.Fatalf("a subscriber of another topic got %q", m)
	}
}
