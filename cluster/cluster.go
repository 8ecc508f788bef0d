// Package cluster defines what several Sockline nodes share so that any node
// can serve any request of any session, without sticky sessions: a Store of
// session ownership and a pubsub.Bus between nodes. It has no dependencies;
// package cluster/redis implements both on Redis, and sockjs.Options.Cluster
// takes them.
//
// How a request is served (package sockjs does this; see its Cluster docs):
// the node that creates a session owns it and runs its handler. A request
// for a session owned elsewhere is carried to the owner over the bus (a
// tunnel: the request there, its response back a flush at a time, each flush
// acknowledged once the client has it; messages authenticated with the
// cluster's secret), so the owner's transport code does all the framing,
// heartbeats, response limits and the one-receiver rule exactly as on one
// node. Websocket sessions stay on their node. Nodes are process
// incarnations that prove they live with one registration each; a session
// is lost exactly when its owner is.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// Errors a Store reports; implementations wrap them.
var (
	// ErrSessionLost reports that a session's owner is gone (the process
	// died, left, or lost the store for longer than its lease): the
	// session is over and must not be created again under the same id.
	ErrSessionLost = errors.New("cluster: the session's node is gone; the session is over")
	// ErrNotOwner reports an operation on a session this node does not own.
	ErrNotOwner = errors.New("cluster: this node does not own the session")
	// ErrRecovering reports that the store has just come back empty (Redis
	// restarted without its data) and the nodes are still claiming back
	// the sessions they hold: an unknown id may be one of them, so it is
	// neither created nor reported unknown yet. Ask again shortly.
	ErrRecovering = errors.New("cluster: the session store restarted empty and the nodes are claiming back their sessions; retry shortly")
)

// Store records which node owns which session, and which nodes are alive.
// Every method is one atomic operation on the shared store (or a few, each
// atomic), safe for concurrent use.
//
// A node is one process incarnation: Node is unique to it and never
// reused, even by a process restarted under the same name, so that what
// an old process owned or sent is never taken for the new one's. A node is
// alive while it renews its registration (Register) within the store's
// lease; a session is lost exactly when its owner is not alive. The store's
// load therefore grows with nodes and traffic, not with idle sessions.
type Store interface {
	// Node returns this node's incarnation id.
	Node() string
	// Register records this node as alive for one more lease. known is
	// false when the store did not know it: its first registration, or the
	// store forgot it (restarted empty, or the lease ran out): a node that
	// had registered before must then claim back the sessions it holds
	// (Renew with all of them) and, if any were lost, close them. known is
	// also false for as long as the store recovers from such a restart, so
	// that every caller sharing one Store (one per handler) claims its own
	// sessions back, not only the first to register again.
	Register(ctx context.Context) (known bool, err error)
	// Deregister records that this node is leaving: its sessions are lost
	// from now on.
	Deregister(ctx context.Context) error
	// Fence records that node is gone although its registration has not
	// lapsed yet: it has not listened on the bus for the forward timeout
	// (the process was killed). Its sessions are lost from now on, for
	// every node; if it lives after all, its next Register fails with
	// ErrSessionLost, and it closes them.
	Fence(ctx context.Context, node string) error
	// Alive reports, for each node, whether it is registered; while the
	// store recovers, an error wrapping ErrRecovering rather than a node
	// taken for dead.
	Alive(ctx context.Context, nodes []string) ([]bool, error)
	// Claim returns the node that owns session id, making this node the
	// owner when none does (created). A session whose owner is gone gives
	// an error wrapping ErrSessionLost; an unknown id while the store
	// recovers, ErrRecovering.
	Claim(ctx context.Context, id string) (owner string, created bool, err error)
	// Owner returns the owner of session id without claiming it: "" when
	// the session does not exist, an error wrapping ErrSessionLost when its
	// owner is gone, ErrRecovering as for Claim.
	Owner(ctx context.Context, id string) (string, error)
	// Renew keeps the records of sessions ids, which this node holds, and
	// claims back those the store forgot; it returns those another node
	// owns now. Records are kept long (see RenewEvery), so this is rare.
	Renew(ctx context.Context, ids []string) (lost []string, err error)
	// RenewEvery is how often Renew must be called for each session at
	// least, for its record to last.
	RenewEvery() time.Duration
	// Release forgets session id, which this node owns and is done with.
	Release(ctx context.Context, id string) error
}

// Incarnation returns an incarnation id for a process named node: the name,
// "#", and a random epoch, so that a process restarted under the same name
// is never taken for the old one.
func Incarnation(node string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return node + "#" + hex.EncodeToString(b[:])
}
