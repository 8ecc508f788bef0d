package sockjs

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/internal/tunnel"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/session"
	"github.com/sockline/sockline/transports"
)

// Cluster makes a Handler one node of several that serve the same SockJS
// service, so that a load balancer may send any request of any session to
// any node: no sticky sessions. The nodes share only a session Store and a
// Bus (package cluster/redis provides both on Redis); they never talk to one
// another directly.
//
// The node that creates a session owns it and runs its handler, under a
// lease it renews. A request that reaches another node is carried to the
// owner over the Bus and answered from there: the owner's transport code
// frames it, so framing, response limits, heartbeats and the
// one-receiver-at-a-time rule (2010) are exactly those of one node. Each
// chunk of a carried response counts as written only once the edge node has
// flushed it to the client, so a chunk lost on the way ends the session
// with a close frame, as a failed write does on one node, never silently.
// A send (xhr_send, jsonp_send) is answered 204 only after the owner has
// accepted its messages, so consecutive sends keep their order.
//
// Websocket sessions stay on the node that accepted them. A node that dies
// loses its own sessions: when their lease runs out, requests for them get
// a close frame (1011 "Session lost"), and clients reconnect as after any
// restart. Handler.Broadcast and Publish reach sessions on every node.
type Cluster struct {
	// Store records which node owns which session. Required.
	Store cluster.Store
	// Bus carries requests between nodes, broadcasts and topics. Required.
	Bus pubsub.Bus
	// Service names this handler's service, so that several handlers (say
	// /echo and /chat) can share one Store and Bus: each gets its own session
	// ids, requests and topics. Every node must give the same handler the
	// same name, and two handlers of one node different names. Empty means
	// "default".
	Service string
	// RenewInterval is how often the node renews the leases of its
	// sessions; keep it a third of the Store's lease or less. Zero means 3 s
	// (a third of cluster/redis's default lease).
	RenewInterval time.Duration
	// ForwardTimeout bounds how long a carried request waits for the owner
	// to start answering, and each chunk for its acknowledgement when no
	// write deadline applies. Zero means 10 s.
	ForwardTimeout time.Duration
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

// maxServed bounds the carried requests a node serves at once for other
// nodes; past it, new ones are refused (the edge answers 503).
const maxServed = 100_000

// clusterNode is a Handler's part in a cluster.
type clusterNode struct {
	h    *Handler
	cfg  Cluster
	node string
	seq  atomic.Uint64

	mu      sync.Mutex
	out     map[string]*forward // exchanges this node carries for its clients
	in      map[string]*served  // exchanges it serves for other nodes
	subs    []func()            // bus subscriptions, cancelled on close
	subbed  bool                // the node's own topics are subscribed
	closing bool

	done chan struct{}
	wg   sync.WaitGroup
}

func newClusterNode(h *Handler, cfg Cluster) *clusterNode {
	c := &clusterNode{
		h:    h,
		cfg:  cfg.withDefaults(),
		node: cfg.Store.Node(),
		out:  make(map[string]*forward),
		in:   make(map[string]*served),
		done: make(chan struct{}),
	}
	return c
}

// start starts the node's upkeep, once the handler is ready for it.
func (c *clusterNode) start() {
	c.wg.Add(1)
	go c.maintain()
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
		c.h.broadcastLocal(NewMessage(string(p)))
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

// maintain subscribes the node and renews its sessions' leases until the
// node closes.
func (c *clusterNode) maintain() {
	defer c.wg.Done()
	if err := c.subscribe(); err != nil {
		c.h.opts.Logger.Warn("sockline cluster: subscribing the node failed; retrying", "node", c.node, "err", err)
	}
	t := time.NewTicker(c.cfg.RenewInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if err := c.subscribe(); err != nil {
			c.h.opts.Logger.Warn("sockline cluster: subscribing the node failed; retrying", "node", c.node, "err", err)
		}
		c.renew()
	}
}

// renew extends the leases of every local session; a session whose lease
// ran out meanwhile (the node was cut from the store too long) is closed,
// since other nodes now answer for it as lost.
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
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RenewInterval)
	defer cancel()
	lost, err := c.cfg.Store.Renew(ctx, keys)
	if err != nil {
		c.h.opts.Logger.Warn("sockline cluster: renewing session leases failed; sessions end if this lasts longer than the lease", "node", c.node, "sessions", len(keys), "err", err)
	}
	for _, k := range lost {
		if s := byKey[k]; s != nil {
			s.CloseWith(&session.CloseError{Code: CloseSessionLost, Reason: reasonSessionLost, Cause: cluster.ErrSessionLost})
		}
	}
}

// release forgets a session in the store once this node has forgotten it,
// off the caller's goroutine (it is the shared timer's).
func (c *clusterNode) release(id string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ForwardTimeout)
		defer cancel()
		if err := c.cfg.Store.Release(ctx, c.key(id)); err != nil && !errors.Is(err, cluster.ErrNotOwner) {
			c.h.opts.Logger.Debug("sockline cluster: releasing a session failed; its lease will expire", "session", id, "err", err)
		}
	}()
}

// close stops the node: no more carried requests, subscriptions cancelled,
// the sessions it still holds released, its goroutines ended.
func (c *clusterNode) close(ctx context.Context) {
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
	close(c.done)
	for _, un := range subs {
		un()
	}
	waited := make(chan struct{})
	go func() { c.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
	}
}

// isSend reports whether transport only delivers to an existing session.
func isSend(transport string) bool {
	return transport == transports.NameXHRSend || transport == transports.NameJSONPSend
}

// serve routes a session request in a cluster: served here when this node
// owns (or now creates) the session, carried to the owner otherwise.
func (c *clusterNode) serve(rt route, w http.ResponseWriter, r *http.Request, name, id string) {
	if _, ok := c.h.registry.Load(id); ok {
		c.h.serveSession(rt, w, r, name, id)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.ForwardTimeout)
	var owner string
	var created bool
	var err error
	if isSend(name) {
		owner, err = c.cfg.Store.Owner(ctx, c.key(id))
	} else {
		owner, created, err = c.cfg.Store.Claim(ctx, c.key(id))
	}
	cancel()
	switch {
	case errors.Is(err, cluster.ErrSessionLost):
		if isSend(name) {
			c.h.serveSession(rt, w, r, name, id) // unknown here: 404
			return
		}
		rt.serve(&c.h.tcfg, endedSessions{}, w, r, id)
	case err != nil:
		c.h.opts.Logger.Warn("sockline cluster: session store unavailable", "session", id, "err", err)
		storeUnavailable(w)
	case owner == "" || owner == c.node:
		// Created by this request, or by another one on this node that is
		// still opening it, or unknown (a send: 404).
		c.h.serveSession(rt, w, r, name, id)
		if created {
			if _, ok := c.h.registry.Load(id); !ok {
				c.release(id) // refused (authorization, limits): free the id
			}
		}
	default:
		c.forward(w, r, name, id, owner)
	}
}

// storeUnavailable answers a request the node cannot route because the
// session store does not answer.
func storeUnavailable(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=UTF-8")
	hd.Set("Retry-After", "1")
	transports.NoCache(hd)
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte("Session store unavailable."))
}

// endedSessions answers every receiving request with the close frame of a
// session whose node was lost.
type endedSessions struct{}

func (endedSessions) ended(id string) *session.Session {
	return session.NewEnded(id, &session.CloseError{Code: CloseSessionLost, Reason: reasonSessionLost, Cause: cluster.ErrSessionLost})
}

// Open implements transports.Sessions.
func (e endedSessions) Open(id, _ string, _ *http.Request) *session.Session { return e.ended(id) }

// OpenConnection implements transports.Sessions.
func (e endedSessions) OpenConnection(id, _ string, _ *http.Request) *session.Session {
	return e.ended(id)
}

// Lookup implements transports.Sessions.
func (endedSessions) Lookup(string) (*session.Session, bool) { return nil, false }

// ownerSessions is how a carried request finds its session on the owner:
// only among the sessions it holds. One that is gone meanwhile (expired, or
// the node restarted) is answered as lost; nothing is created.
type ownerSessions struct{ h *Handler }

// Open implements transports.Sessions.
func (o ownerSessions) Open(id, _ string, _ *http.Request) *session.Session {
	if s, ok := o.h.registry.Load(id); ok {
		return s
	}
	return endedSessions{}.ended(id)
}

// OpenConnection implements transports.Sessions; websockets are never
// carried, so it only answers as lost.
func (o ownerSessions) OpenConnection(id, _ string, _ *http.Request) *session.Session {
	return endedSessions{}.ended(id)
}

// Lookup implements transports.Sessions.
func (o ownerSessions) Lookup(id string) (*session.Session, bool) { return o.h.registry.Load(id) }

// onNodeMessage dispatches a message of the node's topic. It runs on the
// bus's delivery goroutine, so it never blocks.
func (c *clusterNode) onNodeMessage(_ string, p []byte) {
	m, err := tunnel.Decode(p)
	if err != nil {
		c.h.opts.Logger.Warn("sockline cluster: dropped a malformed message", "node", c.node, "err", err)
		return
	}
	switch m.Kind {
	case tunnel.KindOpen:
		c.startServed(m)
	case tunnel.KindAck, tunnel.KindCancel:
		c.mu.Lock()
		s := c.in[m.ID]
		c.mu.Unlock()
		if s != nil {
			s.deliver(m)
		}
	case tunnel.KindChunk, tunnel.KindEnd:
		c.mu.Lock()
		f := c.out[m.ID]
		c.mu.Unlock()
		if f != nil {
			f.deliver(m)
		}
	}
}

// publish sends m to node, bounded by the forward timeout.
func (c *clusterNode) publish(node string, m *tunnel.Msg) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ForwardTimeout)
	defer cancel()
	return c.cfg.Bus.Publish(ctx, c.nodeTopic(node), tunnel.Encode(m))
}
