package nats_test

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/sockline/sockline/cluster/clustertest"
	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/presence"
)

// The cluster suite on one nats-server with JetStream.

func TestSuiteNATS(t *testing.T) {
	clustertest.Run(t, func(t testing.TB) clustertest.Engine { return &oneNATS{srv: natstest.Start(t)} })
}

// The history and presence scenarios on one nats-server.
func TestHistorySuiteNATS(t *testing.T) {
	clustertest.RunHistory(t, func(t testing.TB) clustertest.Engine { return &oneNATS{srv: natstest.Start(t)} })
}

// oneNATS is one in-process nats-server: the Bus on core NATS, the Store
// on a JetStream key-value bucket in the server's store directory, which
// Start replaces with an empty one (a replacement without persistence).
type oneNATS struct{ srv *natstest.Server }

// names turns a scenario's namespace ("t3-17:") into a bucket name and a
// subject prefix: both take letters, digits, - and _ ("t3-17_"), and the
// subject prefix is one token more than the default's so that the spy's
// ">" sees every scenario's subjects alike.
func names(ns string) (bucket, prefix string) {
	if ns == "" {
		return nats.DefaultBucket, nats.DefaultPrefix
	}
	clean := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, ns)
	return "sl_" + clean, nats.DefaultPrefix + "." + clean
}

func (e *oneNATS) conn(t testing.TB) *natsgo.Conn {
	t.Helper()
	nc, err := nats.Connect(e.srv.URL(), natsgo.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

func (e *oneNATS) Connect(t testing.TB, name string, o clustertest.NodeOptions) *clustertest.Node {
	t.Helper()
	nc := e.conn(t)
	bucket, prefix := names(o.Namespace)
	store, err := nats.NewStore(nc, nats.StoreOptions{Node: name, Bucket: bucket, Lease: o.Lease, Tombstone: o.Tombstone})
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	bus, err := nats.NewBus(nc, nats.BusOptions{Prefix: prefix})
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	return &clustertest.Node{Store: store, Bus: bus, Close: sync.OnceFunc(func() {
		_ = bus.Close()
		nc.Close()
	})}
}

// ConnectWithHistory makes the node's history and presence on JetStream
// through its Bus.
func (e *oneNATS) ConnectWithHistory(t testing.TB, name string, o clustertest.NodeOptions) (*clustertest.Node, history.Store, presence.Store) {
	t.Helper()
	n := e.Connect(t, name, o)
	bus := n.Bus.(*nats.Bus)
	hist, err := bus.History(nats.HistoryOptions{})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	pres, err := bus.Presence(nats.PresenceOptions{})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	return n, hist, pres
}

func (e *oneNATS) Stop(testing.TB)          { e.srv.Stop() }
func (e *oneNATS) Start(t testing.TB)       { e.srv.RestartEmpty(t) }
func (e *oneNATS) Failover(testing.TB) bool { return false }

// Spy listens on every subject: the Bus's topics and JetStream's API alike.
func (e *oneNATS) Spy(t testing.TB, fn func([]byte)) func() {
	t.Helper()
	nc := e.conn(t)
	var mu sync.Mutex
	stopped := false
	sub, err := nc.Subscribe(">", func(m *natsgo.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			fn(m.Data)
		}
	})
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		t.Fatal(err)
	}
	return sync.OnceFunc(func() {
		_ = sub.Unsubscribe()
		nc.Close()
		mu.Lock() // a call under way ends first
		stopped = true
		mu.Unlock()
	})
}

// Lease rounds d up to whole seconds, a second at least: JetStream's TTL
// unit. A key expires up to a second after its TTL (the server checks
// expiries on a one-second wheel), and the recovery grace is a second at
// least (Store.recoveryGrace), past the half lease the scenarios wait for.
func (e *oneNATS) Lease(d time.Duration) (lease, late time.Duration) {
	lease = max((d+time.Second-1)/time.Second*time.Second, time.Second)
	return lease, time.Second + max(time.Second-lease/2, 0)
}

// TestSuiteNATSCluster runs the failover scenario on three servers with
// the bucket in three replicas: the server leading the bucket's stream is
// killed under load. The other scenarios run on one server above.
//
// It runs only with SOCKLINE_NATS_FAILOVER=1: a failover may still end a
// session. Core NATS is at most once, and the tunnel messages in flight
// through the killed server are lost; an edge that hears nothing asks its
// owner again (see package sockjs), which mended most of it (before: 0 to
// 8 of 20 sessions ended per run, in five runs; since: 1 session in ten
// runs), but a node that reconnected can stay unheard (NATS answers "no
// responders" to the edge) for longer than a send waits, and the send is
// answered 503. Open: see the report of issue 21.
func TestSuiteNATSCluster(t *testing.T) {
	if os.Getenv("SOCKLINE_NATS_FAILOVER") != "1" {
		t.Skip("a NATS failover may still end a session (about 1 in 200); set SOCKLINE_NATS_FAILOVER=1 to run it")
	}
	clustertest.RunOnly(t, func(t testing.TB) clustertest.Engine { return &natsCluster{c: natstest.StartCluster(t)} }, "Failover")
}

// natsCluster is three nats-servers routed together; the Store's bucket
// has three replicas.
type natsCluster struct {
	c *natstest.Cluster

	mu     sync.Mutex
	bucket string // the last bucket a node was given
}

func (e *natsCluster) Connect(t testing.TB, name string, o clustertest.NodeOptions) *clustertest.Node {
	t.Helper()
	nc, err := nats.Connect(e.c.URL(), natsgo.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	bucket, prefix := names(o.Namespace)
	e.mu.Lock()
	e.bucket = bucket
	e.mu.Unlock()
	store, err := nats.NewStore(nc, nats.StoreOptions{Node: name, Bucket: bucket, Replicas: 3, Lease: o.Lease, Tombstone: o.Tombstone})
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	bus, err := nats.NewBus(nc, nats.BusOptions{Prefix: prefix})
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	return &clustertest.Node{Store: store, Bus: bus, Close: sync.OnceFunc(func() {
		_ = bus.Close()
		nc.Close()
	})}
}

func (e *natsCluster) Stop(testing.TB)    { e.c.Stop() }
func (e *natsCluster) Start(t testing.TB) { e.c.StartEmpty(t) }

// Failover kills the server leading the bucket's stream.
func (e *natsCluster) Failover(t testing.TB) bool {
	e.mu.Lock()
	bucket := e.bucket
	e.mu.Unlock()
	e.c.KillStreamLeader(t, "KV_"+bucket)
	return true
}

func (e *natsCluster) Lease(d time.Duration) (time.Duration, time.Duration) {
	return (&oneNATS{}).Lease(d)
}
