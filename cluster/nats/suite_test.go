package nats_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/sockline/sockline/cluster/clustertest"
	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
)

// The cluster suite on one nats-server with JetStream.

func TestSuiteNATS(t *testing.T) {
	clustertest.Run(t, func(t testing.TB) clustertest.Engine { return &oneNATS{srv: natstest.Start(t)} })
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
