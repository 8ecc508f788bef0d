package stomp

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// UserInfo is one connected user, as Server.Users lists it (Spring's
// SimpUser).
type UserInfo struct {
	// Name is the user name (Principal.Name).
	Name string `json:"name"`
	// Sessions are the user's sessions on every node.
	Sessions []SessionInfo `json:"sessions"`
}

// SessionInfo is one session of a user.
type SessionInfo struct {
	// ID is the session id (CONNECTED's session header).
	ID string `json:"id"`
	// Node is the Config.NodeID of the node that holds it.
	Node string `json:"node"`
	// Subscriptions are its subscriptions.
	Subscriptions []SubscriptionInfo `json:"subscriptions"`
}

// SubscriptionInfo is one subscription of a session.
type SubscriptionInfo struct {
	// ID is the client's subscription id.
	ID string `json:"id"`
	// Destination is as the client subscribed it.
	Destination string `json:"destination"`
}

// nodeSnapshot is what a node broadcasts: its users, until Expires.
type nodeSnapshot struct {
	Node    string     `json:"node"`
	Users   []UserInfo `json:"users"`
	Expires time.Time  `json:"-"`
	TTL     int64      `json:"ttl_ms"`
}

// userRegistry knows this node's connections (Users lists the named
// ones), and,
// through the bus, of the other nodes': each node broadcasts its users on
// changes (coalesced) and every Config.UserRegistryInterval, as Spring's
// MultiServerUserRegistry does; a node not heard from for three intervals
// is forgotten.
type userRegistry struct {
	srv *Server

	mu      sync.Mutex
	local   map[*conn]struct{}
	remote  map[string]nodeSnapshot // by node
	dirty   bool
	started bool
	stop    chan struct{}
	done    chan struct{}
	cancel  func()
}

func newUserRegistry(s *Server) *userRegistry {
	return &userRegistry{srv: s, local: make(map[*conn]struct{}), remote: make(map[string]nodeSnapshot)}
}

func randomNodeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *userRegistry) add(c *conn) {
	r.mu.Lock()
	r.local[c] = struct{}{}
	r.mu.Unlock()
	r.changed(c)
}

func (r *userRegistry) remove(c *conn) {
	r.mu.Lock()
	_, ok := r.local[c]
	delete(r.local, c)
	r.mu.Unlock()
	if ok {
		r.changed(c)
	}
}

// changed notes that c's sessions or subscriptions changed: the next
// broadcast (within a short delay) carries it.
func (r *userRegistry) changed(c *conn) {
	if c.principal.Name == "" || !r.srv.cfg.ClusterUsers {
		return
	}
	r.mu.Lock()
	r.dirty = true
	start := !r.started
	if start {
		r.started = true
		r.stop, r.done = make(chan struct{}), make(chan struct{})
	}
	r.mu.Unlock()
	if start {
		r.start()
	}
}

// localUsers lists this node's users.
func (r *userRegistry) localUsers() []UserInfo {
	r.mu.Lock()
	conns := make([]*conn, 0, len(r.local))
	for c := range r.local {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	byName := map[string]*UserInfo{}
	for _, c := range conns {
		if c.principal.Name == "" {
			continue
		}
		si := SessionInfo{ID: c.id, Node: r.srv.cfg.NodeID}
		c.mu.Lock()
		for _, s := range c.subs {
			si.Subscriptions = append(si.Subscriptions, SubscriptionInfo{ID: s.id, Destination: s.dest})
		}
		c.mu.Unlock()
		slices.SortFunc(si.Subscriptions, func(a, b SubscriptionInfo) int { return cmp.Compare(a.ID, b.ID) })
		u := byName[c.principal.Name]
		if u == nil {
			u = &UserInfo{Name: c.principal.Name}
			byName[c.principal.Name] = u
		}
		u.Sessions = append(u.Sessions, si)
	}
	out := make([]UserInfo, 0, len(byName))
	for _, u := range byName {
		out = append(out, *u)
	}
	return out
}

// all merges this node's users with the other nodes' last snapshots.
func (r *userRegistry) all() []UserInfo {
	users := r.localUsers()
	now := time.Now()
	r.mu.Lock()
	for node, snap := range r.remote {
		if now.After(snap.Expires) {
			delete(r.remote, node)
			continue
		}
		users = append(users, snap.Users...)
	}
	r.mu.Unlock()
	byName := map[string]*UserInfo{}
	var names []string
	for _, u := range users {
		m := byName[u.Name]
		if m == nil {
			m = &UserInfo{Name: u.Name}
			byName[u.Name] = m
			names = append(names, u.Name)
		}
		m.Sessions = append(m.Sessions, u.Sessions...)
	}
	slices.Sort(names)
	out := make([]UserInfo, 0, len(names))
	for _, n := range names {
		u := byName[n]
		slices.SortFunc(u.Sessions, func(a, b SessionInfo) int { return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.ID, b.ID)) })
		out = append(out, *u)
	}
	return out
}

// registryTopic is the bus topic the nodes' snapshots go on.
const registryTopic = "stomp:user-registry"

// start subscribes to the other nodes' snapshots and starts broadcasting.
func (r *userRegistry) start() {
	ctx, cancel := context.WithTimeout(context.Background(), busSubscribeTimeout)
	stopSub, err := r.srv.cfg.Bus.Subscribe(ctx, registryTopic, r.receive)
	cancel()
	if err != nil {
		r.srv.cfg.Logger.Error("stomp: user registry: subscribe failed; other nodes' users are not known", "err", err)
	}
	r.mu.Lock()
	r.cancel = stopSub
	r.mu.Unlock()
	go r.broadcastLoop()
}

func (r *userRegistry) receive(_ string, payload []byte) {
	var snap nodeSnapshot
	if json.Unmarshal(payload, &snap) != nil || snap.Node == r.srv.cfg.NodeID || snap.Node == "" {
		return
	}
	snap.Expires = time.Now().Add(time.Duration(snap.TTL) * time.Millisecond)
	r.mu.Lock()
	if len(snap.Users) == 0 {
		delete(r.remote, snap.Node)
	} else {
		r.remote[snap.Node] = snap
	}
	r.mu.Unlock()
}

// broadcastLoop sends this node's snapshot soon after a change and every
// interval.
func (r *userRegistry) broadcastLoop() {
	defer close(r.done)
	every := r.srv.cfg.UserRegistryInterval
	tick := time.NewTicker(every)
	defer tick.Stop()
	soon := time.NewTicker(50 * time.Millisecond)
	defer soon.Stop()
	for {
		select {
		case <-r.stop:
			r.broadcast(nil, every) // tell the others this node's users are gone
			return
		case <-tick.C:
			r.broadcast(r.localUsers(), every)
		case <-soon.C:
			r.mu.Lock()
			dirty := r.dirty
			r.dirty = false
			r.mu.Unlock()
			if dirty {
				r.broadcast(r.localUsers(), every)
			}
		}
	}
}

func (r *userRegistry) broadcast(users []UserInfo, every time.Duration) {
	b, err := json.Marshal(nodeSnapshot{Node: r.srv.cfg.NodeID, Users: users, TTL: (3 * every).Milliseconds()})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.cfg.Bus.Publish(ctx, registryTopic, b); err != nil {
		r.srv.cfg.Logger.Warn("stomp: user registry: broadcast failed", "err", err)
	}
}

// close stops broadcasting, after a last empty snapshot.
func (r *userRegistry) close() {
	r.mu.Lock()
	started := r.started
	r.started = true // no start after close
	stop := r.stop
	r.mu.Unlock()
	if !started || stop == nil {
		return
	}
	close(r.stop)
	<-r.done
	r.mu.Lock()
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Users lists the connected named users and their sessions and
// subscriptions: on this node, and with Config.ClusterUsers on every node
// (as last broadcast, so a change elsewhere shows within moments), sorted
// by name. Anonymous sessions are not listed.
func (s *Server) Users() []UserInfo { return s.users.all() }

// conn returns a connection of this node by session id (for tests).
func (r *userRegistry) conn(id string) *conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.local {
		if c.id == id {
			return c
		}
	}
	return nil
}
