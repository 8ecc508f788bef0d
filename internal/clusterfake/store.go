// Package clusterfake is an in-memory cluster.Store shared by the nodes of
// one test process: enough to run sockjs handlers as a cluster on a
// pubsub.Memory bus without Redis. Nodes live until the test marks them
// gone; there are no leases, fences or recovery.
package clusterfake

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sockline/sockline/cluster"
)

// Shared is the state the nodes' stores share.
type Shared struct {
	mu     sync.Mutex
	owners map[string]string // session id -> owner incarnation
	gone   map[string]bool   // incarnations that left or were marked gone
}

// NewShared returns an empty shared store.
func NewShared() *Shared {
	return &Shared{owners: make(map[string]string), gone: make(map[string]bool)}
}

// Store returns the store of node, an incarnation id (name#epoch).
func (s *Shared) Store(node string) cluster.Store { return &store{s: s, node: node} }

// Gone marks node gone: its sessions are lost.
func (s *Shared) Gone(node string) {
	s.mu.Lock()
	s.gone[node] = true
	s.mu.Unlock()
}

type store struct {
	s    *Shared
	node string
}

func (st *store) Node() string { return st.node }

func (st *store) Register(context.Context) (bool, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if st.s.gone[st.node] {
		return false, fmt.Errorf("clusterfake: %s: %w", st.node, cluster.ErrSessionLost)
	}
	return true, nil
}

func (st *store) Deregister(context.Context) error {
	st.s.Gone(st.node)
	return nil
}

func (st *store) Fence(_ context.Context, node string) error {
	st.s.Gone(node)
	return nil
}

func (st *store) Alive(_ context.Context, nodes []string) ([]bool, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	alive := make([]bool, len(nodes))
	for i, n := range nodes {
		alive[i] = !st.s.gone[n]
	}
	return alive, nil
}

func (st *store) Claim(_ context.Context, id string) (string, bool, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if o, ok := st.s.owners[id]; ok {
		if st.s.gone[o] {
			return "", false, fmt.Errorf("clusterfake: session %s: %w", id, cluster.ErrSessionLost)
		}
		return o, false, nil
	}
	st.s.owners[id] = st.node
	return st.node, true, nil
}

func (st *store) Owner(_ context.Context, id string) (string, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	o := st.s.owners[id]
	if o != "" && st.s.gone[o] {
		return "", fmt.Errorf("clusterfake: session %s: %w", id, cluster.ErrSessionLost)
	}
	return o, nil
}

func (st *store) Renew(context.Context, []string) ([]string, error) { return nil, nil }

func (st *store) RenewEvery() time.Duration { return time.Hour }

func (st *store) Release(_ context.Context, id string) error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if st.s.owners[id] == st.node {
		delete(st.s.owners, id)
	}
	return nil
}
