package clustertest

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/pubsub"
)

// Engine is one running cluster engine (a Redis, a Redis Cluster, a NATS
// server...) that the scenarios connect nodes to.
type Engine interface {
	// Connect returns a Store (not registered yet) and a Bus for a node
	// named name, on connections of their own, as a separate process would
	// have them. Node.Close cuts them off as a killed process would be cut.
	Connect(t testing.TB, name string, o NodeOptions) *Node
	// Stop makes the engine unreachable, as an outage would (every server
	// killed); Start brings it back without its data (as a replacement
	// without persistence). Start after Stop only.
	Stop(t testing.TB)
	Start(t testing.TB)
	// Failover kills a master (or the engine's equivalent) and returns once
	// another has taken over; false when the engine has no failover, and
	// then it does nothing.
	Failover(t testing.TB) bool
}

// Spier is an Engine that can show every payload published on it, to check
// what crosses the engine (no credentials). Engines without it are spied
// on through their Bus, on the topics the scenario names.
type Spier interface {
	// Spy calls fn with every payload published on the engine until stop
	// is called; it returns once it is listening.
	Spy(t testing.TB, fn func(payload []byte)) (stop func())
}

// Leaser is an Engine whose Store cannot keep the scenarios' short leases
// to the millisecond (JetStream counts a key's TTL in whole seconds, and
// expires it up to a second late). The scenarios that give a lease ask it
// for the lease to use, and wait as much longer as it says; an Engine
// without it keeps the leases as given and expires them on time (Redis).
type Leaser interface {
	// Lease returns the lease to give the engine's Store for a scenario's
	// d (at least d), and late: how long past that lease, or past the
	// recovery grace of half of it, a key may still be there.
	Lease(d time.Duration) (lease, late time.Duration)
}

// leaseOn returns the lease to use on e for d, and how much later than it
// keys may expire (see Leaser).
func leaseOn(e Engine, d time.Duration) (lease, late time.Duration) {
	if n, ok := e.(namespaced); ok {
		e = n.Engine
	}
	if l, ok := e.(Leaser); ok {
		return l.Lease(d)
	}
	return d, 0
}

// NodeOptions says how Engine.Connect sets a node up.
type NodeOptions struct {
	// Namespace separates the keys and topics of one scenario from
	// another's on a shared engine (a key prefix, a subject prefix): no
	// braces, ends in a separator. Empty means the engine's default.
	Namespace string
	// Lease and Tombstone are the Store's (see cluster/redis.StoreOptions).
	Lease, Tombstone time.Duration
	// HealthCheck is how often the Bus probes its subscription; zero means
	// the engine's default.
	HealthCheck time.Duration
}

// Node is what Engine.Connect returns.
type Node struct {
	Store cluster.Store
	Bus   pubsub.Counter
	// Close closes the Bus and the node's connections to the engine; it is
	// called more than once (a crash, then the test's cleanup).
	Close func()
}

// Factory starts a fresh engine for t, stopped when t ends.
type Factory func(t testing.TB) Engine

// scenario is one test of the suite. fresh scenarios stop, restart or
// fail the engine over, and get an engine of their own; the others share
// one, each in a namespace of its own.
type scenario struct {
	name  string
	fresh bool
	run   func(t *testing.T, e Engine)
}

var scenarios []scenario

// add registers scenarios; each file of the suite adds its own.
func add(s ...scenario) { scenarios = append(scenarios, s...) }

// Run runs every scenario of the suite as a subtest of t on engines made
// by newEngine: one shared by the scenarios that leave the engine alone,
// a fresh one for each that stops or fails it over. A scenario that needs
// what the engine lacks (a failover) is skipped with a message.
func Run(t *testing.T, newEngine Factory) {
	RunOnly(t, newEngine, "")
}

// RunOnly is Run restricted to the scenarios whose name contains match
// ("" runs them all).
func RunOnly(t *testing.T, newEngine Factory, match string) {
	var shared Engine
	for i, s := range scenarios {
		if !strings.Contains(s.name, match) {
			continue
		}
		if !s.fresh && shared == nil {
			shared = newEngine(t) // lives until the whole run ends
		}
		t.Run(s.name, func(t *testing.T) {
			e := shared
			if s.fresh {
				e = newEngine(t)
			}
			s.run(t, namespaced{Engine: e, ns: fmt.Sprintf("t%d-%d:", i, nsSeq.Add(1))})
		})
	}
}

var nsSeq atomic.Int64

// namespaced gives every node of one scenario the scenario's namespace.
type namespaced struct {
	Engine
	ns string
}

func (n namespaced) Connect(t testing.TB, name string, o NodeOptions) *Node {
	if o.Namespace == "" {
		o.Namespace = n.ns
	}
	return n.Engine.Connect(t, name, o)
}

func (n namespaced) Spy(t testing.TB, fn func([]byte)) (func(), bool) {
	sp, ok := n.Engine.(Spier)
	if !ok {
		return nil, false
	}
	return sp.Spy(t, fn), true
}
