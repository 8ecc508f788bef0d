package sockjs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/internal/tunnel"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/session"
)

// Cluster makes a Handler one node of several that serve the same SockJS
// service, so that a load balancer may send any request of any session to
// any node: no sticky sessions. The nodes share only a session Store and a
// Bus (package cluster/redis provides both on Redis); they never talk to one
// another directly.
//
// The node that creates a session owns it and runs its handler. A node is
// one process incarnation (its Store's Node: a name and a random epoch), so
// a process restarted under the same name never takes over, or receives,
// what its predecessor owned; nodes prove they are alive with one
// registration each, renewed every RenewInterval, not one lease per
// session. A request that reaches another node (the edge) is carried to the
// owner over the Bus and answered from there: the owner's transport code
// frames it, so framing, response limits, heartbeats and the
// one-receiver-at-a-time rule (2010) are exactly those of one node, and a
// carried request may wait exactly as long as a local one (a poll up to the
// heartbeat delay). A chunk of a carried response that the edge could not
// write, or that is lost on the way (its acknowledgement never comes), ends
// the session with a close frame, as a failed write does on one node, never
// silently. A send (xhr_send, jsonp_send) is answered 204 only after
// the owner has accepted its messages, so consecutive sends keep their
// order.
//
// What crosses the Bus is authenticated with Secret (HMAC-SHA256) and
// carries only what the transports need: no cookies, no credentials
// (identity was settled when the session was created, on its owner).
//
// Websocket sessions stay on the node that accepted them. A node that dies
// loses its own sessions: once its registration lapses, requests for them
// get a close frame (1011 "Session lost"), and clients reconnect as after
// any restart. Handler.Shutdown drains: the node keeps carrying requests of
// sessions other nodes own until they end (streams end at the next frame,
// and the client's next request goes elsewhere), then leaves.
// Handler.Broadcast and Publish reach sessions on every node.
type Cluster struct {
	// Store records which node owns which session. Required.
	Store cluster.Store
	// Bus carries requests between nodes, broadcasts and topics. Required.
	// A Bus that implements pubsub.Counter (Redis' does) lets a node know
	// at once that another one is gone, instead of after ForwardTimeout.
	Bus pubsub.Bus
	// Secret authenticates every message between nodes; every node of the
	// cluster must have the same one, at least 16 random bytes (for
	// example 32 bytes from crypto/rand, kept with the deployment's other
	// secrets). A message made without it is dropped and counted
	// (Handler.ClusterStats). Required.
	Secret []byte
	// Service names this handler's service, so that several handlers (say
	// /echo and /chat) can share one Store and Bus: each gets its own session
	// ids, requests and topics. Every node must give the same handler the
	// same name, and two handlers of one node different names. Empty means
	// "default".
	Service string
	// RenewInterval is how often the node renews its registration; keep it
	// a third of the Store's lease or less. Zero means 3 s (a third of
	// cluster/redis's default lease).
	RenewInterval time.Duration
	// ForwardTimeout bounds how long a carried request waits without any
	// word from the owner (the owner says it is still there at least every
	// half of it while a response idles), and a stream's full window of
	// chunks for an acknowledgement when no write deadline applies. Zero
	// means 10 s.
	ForwardTimeout time.Duration
	// DirectListener, when set, takes direct connections from the other
	// nodes of the cluster, and the node makes them too: a carried
	// request's messages then go straight between the two nodes instead of
	// through the Bus (no Redis round trip per message, about half the
	// CPU), and the Bus remains the fallback and the way nodes find each
	// other's address. Listen on an address only the nodes reach (a
	// private network): what crosses is authenticated with Secret, as on
	// the Bus, but not encrypted. Every node of the cluster should have
	// one, and each handler its own (two services of a process: two
	// ports); the handler closes it on Shutdown. Nil: everything goes over
	// the Bus.
	DirectListener net.Listener
	// DirectAddr is the host:port at which other nodes reach
	// DirectListener. Empty means the listener's own address, which must
	// then name a host (127.0.0.1:7946, not :7946).
	DirectAddr string
}

// CloseSessionLost is the close code of a session whose node was lost.
const CloseSessionLost = CloseInternalError

// reasonSessionLost is the close reason of a session whose node was lost.
const reasonSessionLost = "Session lost"

func (c Cluster) withDefaults() Cluster {
	if c.RenewInterval <= 0 {
		c.RenewInterval = 3 * time.Second
	}
	if c.ForwardTimeout <= 0 {
		c.ForwardTimeout = 10 * time.Second
	}
	if c.Service == "" {
		c.Service = "default"
	}
	return c
}

// ClusterStats counts a cluster node's traffic with other nodes.
type ClusterStats struct {
	// Forged counts messages dropped because they were not made with the
	// cluster's Secret: a node with another secret, or someone with access
	// to the Bus trying to inject frames.
	Forged uint64
	// Malformed counts authenticated messages that did not parse (a node
	// of another version).
	Malformed uint64
	// Stray counts messages of exchanges this node does not have, or from
	// another incarnation than the exchange's peer: late messages of
	// exchanges that ended, or of a restarted node.
	Stray uint64
	// Direct counts the messages this node sent over direct connections
	// (Cluster.DirectListener) rather than the Bus.
	Direct uint64
}

// ClusterStats returns the node's counters; zero without a Cluster.
func (h *Handler) ClusterStats() ClusterStats {
	if h.cl == nil {
		return ClusterStats{}
	}
	st := ClusterStats{Forged: h.cl.forged.Load(), Malformed: h.cl.malformed.Load(), Stray: h.cl.stray.Load()}
	if h.cl.direct != nil {
		st.Direct = h.cl.direct.sent.Load()
	}
	return st
}

// maxServed bounds the carried requests a node serves at once for other
// nodes; past it, new ones are refused (the edge answers 503).
const maxServed = 100_000

// maxOwnerCache bounds the edge's cache of session owners.
const maxOwnerCache = 200_000

// clusterNode is a Handler's part in a cluster.
type clusterNode struct {
	h     *Handler
	cfg   Cluster
	node  string // this incarnation
	codec *tunnel.Codec
	seq   atomic.Uint64
	// direct holds the direct connections to other nodes; nil without
	// Cluster.DirectListener.
	direct *direct

	forged, malformed, stray atomic.Uint64

	mu         sync.Mutex
	out        map[string]*forward      // exchanges this node carries for its clients
	in         map[string]*served       // exchanges it serves for other nodes
	recent     recentExchanges          // exchanges it served lately
	owners     map[string]string        // session id -> owner, for carrying
	sends      map[string]int           // carried sends in flight, by side and session
	releasing  map[string]chan struct{} // releases under way, closed when done
	sendBytes  int64                    // bytes of carried sends in flight
	subs       []func()                 // bus subscriptions, cancelled on close
	subbed     bool                     // the node's own topics are subscribed
	registered bool                     // the store knows the node
	draining   bool
	closing    bool
	stopping   bool // done is closing: no goroutine of the node may start

	// fanOuts runs broadcast and topic deliveries to local sessions on a
	// goroutine of their own: on the bus's, a fan-out to many sessions
	// would hold up the tunnel's messages behind it.
	fanOuts        chan func()
	forwards       activity     // forwards in flight, finished before the node leaves
	farewells      activity     // answers to exchanges opened while it closes (farewell)
	lastForward    atomic.Int64 // when the last forward started (unix ns)
	holdUntil      atomic.Int64 // no session times out before this (unix ns); see holdExpiries
	lastRegistered atomic.Int64 // when the store last took the node's registration (unix ns)
	// ready is closed once the node has subscribed to its channel and
	// registered: before that, other nodes would take its sessions for
	// lost and its answers would reach nobody, so it routes nothing.
	ready     chan struct{}
	readyOnce sync.Once
	drain     chan struct{} // closed when the node starts draining
	done      chan struct{} // closed when the node stops
	wg        sync.WaitGroup
}

func newClusterNode(h *Handler, cfg Cluster) (*clusterNode, error) {
	codec, err := tunnel.NewCodec(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("%w: Cluster.Secret: %w", ErrInvalidOptions, err)
	}
	storeUsers.join(cfg.Store)
	c := &clusterNode{
		h:         h,
		cfg:       cfg.withDefaults(),
		node:      cfg.Store.Node(),
		codec:     codec,
		out:       make(map[string]*forward),
		in:        make(map[string]*served),
		owners:    make(map[string]string),
		sends:     make(map[string]int),
		releasing: make(map[string]chan struct{}),
		fanOuts:   make(chan func(), fanOutBuffer),
		drain:     make(chan struct{}),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
	}
	if cfg.DirectListener != nil {
		if c.direct, err = newDirect(c, cfg.DirectListener, cfg.DirectAddr); err != nil {
			storeUsers.leave(cfg.Store)
			return nil, err
		}
	}
	return c, nil
}

// storeUsers counts the handlers of this process that use each Store:
// several services may share one, and the node leaves the store (its
// sessions lost) only with the last of them.
var storeUsers = &users{n: make(map[cluster.Store]int)}

type users struct {
	mu sync.Mutex
	n  map[cluster.Store]int
}

func (u *users) join(s cluster.Store) {
	if !keyable(s) {
		return
	}
	u.mu.Lock()
	u.n[s]++
	u.mu.Unlock()
}

// leave reports whether s has no user left. A Store whose value cannot be
// compared (a struct holding a map, say) cannot be a map key, nor be known
// to be shared: each handler is its only user.
func (u *users) leave(s cluster.Store) bool {
	if !keyable(s) {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.n[s]--
	if u.n[s] > 0 {
		return false
	}
	delete(u.n, s)
	return true
}

// keyable reports whether s can be a map key: using one that cannot
// panics.
func keyable(s cluster.Store) bool { return reflect.TypeOf(s).Comparable() }

// start starts the node's upkeep, once the handler is ready for it.
func (c *clusterNode) start() {
	c.wg.Add(2)
	go c.maintain()
	go c.runFanOuts()
	if c.direct != nil {
		c.direct.start()
	}
}

// fanOutBuffer is how many broadcasts and topic messages may wait for the
// fan-out goroutine.
const fanOutBuffer = 4096

// fanOut queues f for the fan-out goroutine; a full queue drops it, as the
// bus drops what a node does not take in time (at most once).
func (c *clusterNode) fanOut(f func()) {
	select {
	case c.fanOuts <- f:
	default:
		c.h.opts.Logger.Warn("sockline cluster: a broadcast or topic message was dropped: local sessions take them slower than they arrive", "node", c.node)
	}
}

func (c *clusterNode) runFanOuts() {
	defer c.wg.Done()
	for {
		select {
		case f := <-c.fanOuts:
			f()
		case <-c.done:
			return
		}
	}
}

// clusterRegistry is the handler's registry in a cluster: forgetting a
// session also releases it in the store.
type clusterRegistry struct {
	session.Registry
	cl *clusterNode
}

// Delete implements session.Registry.
func (r clusterRegistry) Delete(s *session.Session) {
	r.Registry.Delete(s)
	r.cl.release(s.ID())
}

// The bus topics and store keys of one service: its own, so that handlers
// sharing a Store and Bus never see one another's sessions or requests.
func (c *clusterNode) nodeTopic(node string) string {
	return "sockline/" + c.cfg.Service + "/node/" + node
}
func (c *clusterNode) broadcastTopic() string { return "sockline/" + c.cfg.Service + "/broadcast" }
func (c *clusterNode) topic(name string) string {
	return "sockline/" + c.cfg.Service + "/topic/" + name
}
func (c *clusterNode) key(id string) string { return c.cfg.Service + "/" + id }

// subscribe subscribes the node's own topics; maintain retries until it
// succeeds (Redis may be down when the node starts).
func (c *clusterNode) subscribe() error {
	c.mu.Lock()
	if c.subbed || c.closing {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ForwardTimeout)
	defer cancel()
	un1, err := c.cfg.Bus.Subscribe(ctx, c.nodeTopic(c.node), c.onNodeMessage)
	if err != nil {
		return err
	}
	un2, err := c.cfg.Bus.Subscribe(ctx, c.broadcastTopic(), func(_ string, p []byte) {
		c.fanOut(func() { c.h.broadcastLocal(NewMessage(string(p))) })
	})
	if err != nil {
		un1()
		return err
	}
	c.mu.Lock()
	c.subs = append(c.subs, un1, un2)
	c.subbed = true
	c.mu.Unlock()
	return nil
}

// maintain keeps the node registered and subscribed, keeps its sessions'
// records, and tells the edges of idle carried responses that it is still
// there, until the node closes.
func (c *clusterNode) maintain() {
	defer c.wg.Done()
	c.upkeep()
	renewed := time.Now()
	t := time.NewTicker(c.cfg.RenewInterval)
	defer t.Stop()
	// Keepalives on their own goroutine and clock: a slow store call must
	// not make an edge wait a forward timeout for word from its owner.
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		k := time.NewTicker(c.cfg.ForwardTimeout / 4)
		defer k.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-k.C:
				c.keepalive()
			}
		}
	}()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		c.upkeep()
		if time.Since(renewed) >= c.cfg.Store.RenewEvery() {
			c.renew()
			renewed = time.Now()
		}
	}
}

// upkeep subscribes (if not yet) and registers the node. A node the store
// forgot (Redis restarted empty) claims its sessions back at once; a node
// whose registration lapsed closes them: other nodes answer them as lost.
func (c *clusterNode) upkeep() {
	if err := c.subscribe(); err != nil {
		c.h.opts.Logger.Warn("sockline cluster: subscribing the node failed; retrying", "node", c.node, "err", err)
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RenewInterval)
	known, err := c.cfg.Store.Register(ctx)
	cancel()
	switch {
	case errors.Is(err, cluster.ErrSessionLost):
		c.h.opts.Logger.Error("sockline cluster: the node was cut from the store longer than its lease; its sessions are lost", "node", c.node, "err", err)
		c.h.forEach(func(s *session.Session) bool {
			s.CloseWith(lostClose())
			return true
		})
		return
	case err != nil:
		c.holdExpiries()
		c.h.opts.Logger.Warn("sockline cluster: renewing the node's registration failed; its sessions end if this lasts longer than the lease", "node", c.node, "err", err)
		return
	}
	c.lastRegistered.Store(time.Now().UnixNano())
	c.mu.Lock()
	before := c.registered
	c.registered = true
	subbed := c.subbed
	c.mu.Unlock()
	if subbed {
		c.readyOnce.Do(func() { close(c.ready) })
	}
	if before && !known {
		c.holdExpiries()
		c.h.opts.Logger.Warn("sockline cluster: the store had forgotten the node (Redis restarted empty?); claiming its sessions back", "node", c.node)
		c.renew()
	}
}

func lostClose() *session.CloseError {
	return &session.CloseError{Code: CloseSessionLost, Reason: reasonSessionLost, Cause: cluster.ErrSessionLost}
}

// renew keeps the records of every local session; a session another node
// owns now is closed.
func (c *clusterNode) renew() {
	var keys []string
	byKey := make(map[string]*session.Session)
	c.h.registry.Range(func(s *session.Session) bool {
		k := c.key(s.ID())
		keys = append(keys, k)
		byKey[k] = s
		return true
	})
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ForwardTimeout)
	defer cancel()
	lost, err := c.cfg.Store.Renew(ctx, keys)
	if err != nil {
		c.holdExpiries()
		c.h.opts.Logger.Warn("sockline cluster: keeping session records failed; retrying", "node", c.node, "sessions", len(keys), "err", err)
	}
	for _, k := range lost {
		if s := byKey[k]; s != nil {
			s.CloseWith(lostClose())
		}
	}
}

// release forgets a session in the store once this node has forgotten it,
// off the caller's goroutine (it is the shared timer's).
func (c *clusterNode) release(id string) {
	c.mu.Lock()
	// A draining node keeps its records: they name it, and once it has
	// left, late requests for its sessions get a close frame instead of
	// creating a phantom session elsewhere.
	if c.closing || c.draining {
		c.mu.Unlock()
		return
	}
	if _, pending := c.releasing[id]; pending {
		c.mu.Unlock()
		return
	}
	released := make(chan struct{})
	c.releasing[id] = released
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.releasing, id)
			c.mu.Unlock()
			close(released)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ForwardTimeout)
		defer cancel()
		if err := c.cfg.Store.Release(ctx, c.key(id)); err != nil && !errors.Is(err, cluster.ErrNotOwner) {
			c.h.opts.Logger.Debug("sockline cluster: releasing a session failed; its record expires", "session", id, "err", err)
		}
	}()
}

// awaitRelease waits, within ctx, for a release of session id that is
// under way; it reports whether there was one. A request for a session
// this node has just forgotten must not create a new one under the record
// the release is about to delete (the new session would lose it).
func (c *clusterNode) awaitRelease(ctx context.Context, id string) bool {
	c.mu.Lock()
	released, pending := c.releasing[id]
	c.mu.Unlock()
	if !pending {
		return false
	}
	select {
	case <-released:
	case <-ctx.Done():
	}
	return true
}

// testHookLeaving, when set by a test, runs as a node has decided to
// leave, before it stops carrying requests.
var testHookLeaving func(*clusterNode)

// drainQuiet is how long a draining node waits for the requests it carries
// to stop arriving before it leaves the cluster.
const drainQuiet = 300 * time.Millisecond

// beginDrain starts a graceful shutdown: carried streams are asked to end
// at their next frame, so that clients reconnect to other nodes.
func (c *clusterNode) beginDrain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.draining {
		c.draining = true
		close(c.drain)
	}
}

// close stops the node once the requests it carries for other nodes'
// sessions have ended (or ctx has): it leaves the store (its sessions are
// lost from now on), cancels what it still serves, unsubscribes and ends
// its goroutines.
func (c *clusterNode) close(ctx context.Context) {
	c.beginDrain()
	// Requests may still arrive while the server takes them (see
	// run.Until): leave once none has been carried for a while.
	for {
		if c.forwards.Wait(ctx) != nil {
			break
		}
		quiet := time.Since(time.Unix(0, c.lastForward.Load()))
		if quiet >= drainQuiet {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(drainQuiet - quiet):
		}
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	subs := c.subs
	c.subs = nil
	for _, s := range c.in {
		s.cancel()
	}
	c.mu.Unlock()
	if testHookLeaving != nil {
		testHookLeaving(c)
	}
	// A request that a balancer still sent here after the quiet period
	// above is carried to its end, not cut with a 502 (the node stays
	// subscribed until then): only ctx ends the wait.
	_ = c.forwards.Wait(ctx)
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	close(c.done)
	if storeUsers.leave(c.cfg.Store) {
		dctx, cancel := context.WithTimeout(ctx, c.cfg.ForwardTimeout)
		if err := c.cfg.Store.Deregister(dctx); err != nil {
			c.h.opts.Logger.Warn("sockline cluster: leaving the store failed; other nodes see the node gone when its lease ends", "node", c.node, "err", err)
		}
		cancel()
	}
	for _, un := range subs {
		un()
	}
	_ = c.farewells.Wait(ctx) // none starts once unsubscribed
	if c.direct != nil {
		c.direct.close()
	}
	waited := make(chan struct{})
	go func() { c.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
	}
}
