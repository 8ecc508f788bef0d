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
// acknowledged once the client has it), so the owner's transport code does
// all the framing, heartbeats, response limits and the one-receiver rule
// exactly as on one node. Websocket sessions stay on their node.
package cluster

import (
	"context"
	"errors"
)

// Errors a Store reports; implementations wrap them.
var (
	// ErrSessionLost reports that a session's owner stopped renewing it (the
	// node died, or lost the store for longer than its lease): the session
	// is over and must not be created again under the same id.
	ErrSessionLost = errors.New("cluster: the session's node stopped renewing it; the session is over")
	// ErrNotOwner reports an operation on a session this node does not own.
	ErrNotOwner = errors.New("cluster: this node does not own the session")
)

// Store records which node owns which session. Every method is one atomic
// operation on the shared store, safe for concurrent use.
type Store interface {
	// Node returns this node's id, unique in the cluster.
	Node() string
	// Claim returns the node that owns session id, making this node the
	// owner when none does (created). A session whose owner stopped renewing
	// it gives an error wrapping ErrSessionLost.
	Claim(ctx context.Context, id string) (owner string, created bool, err error)
	// Owner returns the owner of session id without claiming it: "" when the
	// session does not exist, an error wrapping ErrSessionLost when its
	// owner stopped renewing it.
	Owner(ctx context.Context, id string) (string, error)
	// Renew extends this node's lease on each session in ids and returns
	// those it no longer owns.
	Renew(ctx context.Context, ids []string) (lost []string, err error)
	// Release forgets session id, which this node owns and is done with.
	Release(ctx context.Context, id string) error
}
