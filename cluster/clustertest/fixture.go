package clustertest

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
	"github.com/sockline/sockline/internal/rrproxy"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// node is one cluster member: a handler with its own store and bus, served
// on its own port, as a separate process would be.
type node struct {
	name string
	h    *sockjs.Handler
	srv  *httptest.Server
	bus  pubsub.Counter
	conn *Node
	// store is the node's store, for a second service in a test.
	store cluster.Store
	// opened receives the id of every session whose handler starts here.
	opened chan string
}

type clusterFixture struct {
	engine Engine
	nodes  []*node
	proxy  *rrproxy.Proxy
	// forwardTimeout is the nodes' Cluster.ForwardTimeout; zero means 5 s.
	forwardTimeout time.Duration
	// lease is the nodes' store lease; zero means 1 s.
	lease time.Duration
	// wrapBus, when set, wraps a node's bus (to drop or hold messages).
	wrapBus func(name string, b pubsub.Counter) pubsub.Bus
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

func startCluster(t *testing.T, e Engine, n int, opts sockjs.Options) *clusterFixture {
	t.Helper()
	return (&clusterFixture{engine: e}).start(t, n, opts)
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
	lease, _ = leaseOn(f.engine, lease)
	conn := f.engine.Connect(t, name, NodeOptions{Lease: lease, Tombstone: time.Minute, HealthCheck: 300 * time.Millisecond})
	store, bus := conn.Store, conn.Bus
	nd := &node{name: name, bus: bus, conn: conn, store: store, opened: make(chan string, 100)}
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
		conn.Close()
	})
	// A scenario starts once the node has registered: on a starved box the
	// first registration can outlast a short forward timeout, and a request
	// before it gets 503 (what a readiness probe on Handler.Ready avoids).
	for deadline := time.Now().Add(30 * time.Second); !nd.h.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node %s not registered 30 s after it started", name)
		}
	}
	f.nodes = append(f.nodes, nd)
	return nd
}

// testSecret is the cluster secret of the test nodes.
var testSecret = []byte("test cluster secret, 32 bytes...")

var stopOnce sync.Map

// crash cuts the node off as a dead process would be: its port closes and
// it stops talking to the engine (no renewal, no release), while its handler
// lives on unseen until the test ends.
func (nd *node) crash() {
	// The engine first: a killed process sends nothing more, not even the
	// cancels its requests' ends would send.
	nd.conn.Close()
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
	nd.conn.Close()
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

// Secret is the cluster secret of the suite's nodes, for an engine's own
// tests that start nodes beside the suite's.
var Secret = testSecret

// Dial opens a session on url over transport, closed when the test ends;
// it fails the test after 20 s.
func Dial(t *testing.T, url, transport string) *client.Conn {
	t.Helper()
	return dial(t, url, transport)
}

// Recv returns the next message of c; it fails the test after 20 s.
func Recv(t *testing.T, c *client.Conn) string {
	t.Helper()
	return recv(t, c)
}
