package nats

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockline/sockline/cluster"
)

// Defaults of StoreOptions.
const (
	DefaultBucket    = "sockline"
	DefaultLease     = 10 * time.Second
	DefaultTombstone = 5 * time.Minute
)

// Errors of the store, as package cluster defines them. NATS errors are
// wrapped as they are.
var (
	// ErrSessionLost is cluster.ErrSessionLost.
	ErrSessionLost = cluster.ErrSessionLost
	// ErrNotOwner is cluster.ErrNotOwner.
	ErrNotOwner = cluster.ErrNotOwner
	// ErrRecovering is cluster.ErrRecovering.
	ErrRecovering = cluster.ErrRecovering
)

// StoreOptions configures a Store.
type StoreOptions struct {
	// Node names this node: host:port, a pod name, or anything unique
	// among the nodes alive at one time. A process restarted under the
	// same name is another incarnation (Store.Node adds a random epoch), so
	// a stable name is safe. Required.
	Node string
	// Bucket names the JetStream key-value bucket (letters, digits, - and
	// _), made when missing; several applications sharing one NATS use
	// one bucket each. Empty means DefaultBucket.
	Bucket string
	// Storage is where the bucket keeps its keys. Zero means
	// jetstream.FileStorage; with jetstream.MemoryStorage a server restart
	// loses them, which the store survives (see ErrRecovering).
	Storage jetstream.StorageType
	// Replicas is how many servers of a NATS cluster hold the bucket (1, 3
	// or 5). Zero means 1. With more than one, a read may come from a
	// replica a moment behind; every write is checked against the latest
	// revision all the same, so claims stay unique.
	Replicas int
	// Lease is how long a node stays alive without renewing its
	// registration; it renews every third of it (sockjs.Cluster's
	// RenewInterval). A dead node's sessions end at most this long after it
	// died. At least a second: JetStream counts expiry in whole seconds,
	// and rounds it up. Zero means DefaultLease.
	Lease time.Duration
	// Tombstone is how long a session's record outlives its owner, so that
	// late requests get a close frame rather than a new session; the owner
	// keeps the records of live sessions (Renew) every third of it. Zero
	// means DefaultTombstone.
	Tombstone time.Duration
}

// Store keeps session ownership and node liveness in a JetStream key-value
// bucket. It implements cluster.Store, with the semantics of
// cluster/redis's Store.
//
// Keys: one per node (its liveness, expiring after the lease), one per
// session (its owner's incarnation, expiring after Tombstone and renewed
// every third of it), a fence per node fenced, and two for the whole
// cluster: a marker that the bucket still has its data (written by the
// first registration, missing after NATS lost the bucket) and a short
// "recovering" flag while the nodes claim their sessions back. Creation is
// a write that expects the key to have no value; every change of a key
// expects the revision just read, so concurrent nodes never overwrite one
// another.
type Store struct {
	b    *bucket
	opts StoreOptions
	inc  string

	mu         sync.Mutex
	registered bool                  // Register succeeded once
	alive      map[string]aliveEntry // liveness answers, kept briefly
}

type aliveEntry struct {
	alive bool
	until time.Time
}

// aliveFor is how long a liveness answer is reused by Claim and Owner.
const aliveFor = 500 * time.Millisecond

// casAttempts bounds the retries of a change whose key changed meanwhile.
const casAttempts = 8

var _ cluster.Store = (*Store)(nil)

var bucketName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// NewStore returns a Store using nc. It does not talk to the server yet:
// the bucket is made by the first operation that needs it. nc should
// reconnect for ever (Connect's connections do).
func NewStore(nc *natsgo.Conn, opts StoreOptions) (*Store, error) {
	if opts.Node == "" {
		return nil, errors.New("cluster: StoreOptions.Node must name this node (for example host:port or the pod name)")
	}
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if !bucketName.MatchString(opts.Bucket) {
		return nil, fmt.Errorf("cluster: StoreOptions.Bucket %q: use only letters, digits, - and _", opts.Bucket)
	}
	if opts.Storage == 0 {
		opts.Storage = jetstream.FileStorage
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultLease
	}
	if opts.Tombstone == 0 {
		opts.Tombstone = DefaultTombstone
	}
	if opts.Lease < time.Second || opts.Tombstone < opts.Lease {
		return nil, fmt.Errorf("cluster: Lease (%v) must be at least a second (JetStream expires keys in whole seconds) and Tombstone (%v) at least as long", opts.Lease, opts.Tombstone)
	}
	if nc == nil {
		return nil, errors.New("cluster: NewStore needs a NATS connection (see Connect)")
	}
	b, err := newBucket(nc, jetstream.KeyValueConfig{
		Bucket:         opts.Bucket,
		Description:    "Sockline cluster: session owners and node liveness",
		History:        1,
		Storage:        opts.Storage,
		Replicas:       opts.Replicas,
		LimitMarkerTTL: markerTTL, // lets keys have their own TTL
	})
	if err != nil {
		return nil, err
	}
	return &Store{b: b, opts: opts, inc: cluster.Incarnation(opts.Node), alive: make(map[string]aliveEntry)}, nil
}

// Node returns this node's incarnation: StoreOptions.Node and a random
// epoch drawn when the Store was made.
func (s *Store) Node() string { return s.inc }

// RenewEvery implements cluster.Store: a third of Tombstone.
func (s *Store) RenewEvery() time.Duration { return s.opts.Tombstone / 3 }

func sessKey(id string) string   { return "sess." + token(id) }
func nodeKey(inc string) string  { return "node." + token(inc) }
func fenceKey(inc string) string { return "fence." + token(inc) }

const (
	markerKey     = "cluster"
	recoveringKey = "recovering"
)

// recoveryGrace is how long the cluster recovers after the bucket came
// back empty: half a lease, and at least a second.
func (s *Store) recoveryGrace() time.Duration { return max(s.opts.Lease/2, time.Second) }

// errLapsed: the node's registration lapsed, or it was fenced.
var errLapsed = errors.New("lapsed")

// Register implements cluster.Store. A node whose registration lapsed
// (cut from NATS longer than the lease while the bucket kept its data), or
// that was fenced, gets ErrSessionLost: other nodes have answered its
// sessions as lost, so it must close them; it is registered again by the
// next call.
func (s *Store) Register(ctx context.Context) (bool, error) {
	s.mu.Lock()
	before := s.registered
	s.mu.Unlock()
	var known bool
	err := s.b.do(ctx, func(ctx context.Context) error {
		var err error
		known, err = s.register(ctx, before)
		return err
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(err, errLapsed) {
		s.registered = false
		return false, fmt.Errorf("cluster: node %q was not renewed within its lease (%v), or was fenced: %w", s.inc, s.opts.Lease, ErrSessionLost)
	}
	if err != nil {
		return false, fmt.Errorf("cluster: register node %q: %w", s.inc, err)
	}
	s.registered = true
	return known, nil
}

// register is cluster/redis's registration script as a sequence of
// reads and conditional writes: the node's key is written only if it has
// not changed since it was read, so a fence in between (which writes the
// fence, then deletes the key) makes it read again and see the fence.
func (s *Store) register(ctx context.Context, before bool) (bool, error) {
	for range casAttempts {
		fence, err := s.b.get(ctx, fenceKey(s.inc))
		if err != nil {
			return false, err
		}
		if fence.exists {
			if err := s.b.del(ctx, fenceKey(s.inc), fence.rev); err != nil && !errors.Is(err, errRevision) {
				return false, err
			}
			return false, errLapsed
		}
		node, err := s.b.get(ctx, nodeKey(s.inc))
		if err != nil {
			return false, err
		}
		marker, err := s.b.get(ctx, markerKey)
		if err != nil {
			return false, err
		}
		if !node.exists && marker.exists && before {
			rec, err := s.b.get(ctx, recoveringKey)
			if err != nil {
				return false, err
			}
			if !rec.exists {
				return false, errLapsed
			}
		}
		err = s.b.put(ctx, nodeKey(s.inc), []byte("1"), s.opts.Lease, node.rev)
		if errors.Is(err, errRevision) {
			continue
		}
		if err != nil {
			return false, err
		}
		if !marker.exists {
			// The flag before the marker: a node that sees the marker
			// sees the flag too (Redis sets both in one script).
			if before {
				if err := s.b.put(ctx, recoveringKey, []byte("1"), s.recoveryGrace(), anyRev); err != nil {
					return false, err
				}
			}
			if err := s.b.put(ctx, markerKey, []byte("1"), 0, marker.rev); err != nil && !errors.Is(err, errRevision) {
				return false, err
			}
		}
		return node.exists, nil
	}
	return false, errors.New("the node's key kept changing; try again")
}

// Deregister implements cluster.Store.
func (s *Store) Deregister(ctx context.Context) error {
	err := s.b.do(ctx, func(ctx context.Context) error { return s.b.del(ctx, nodeKey(s.inc), anyRev) })
	if err != nil {
		return fmt.Errorf("cluster: deregister node %q: %w", s.inc, err)
	}
	return nil
}

// Fence implements cluster.Store: the fence first, then the node's key
// goes (the node is gone for everyone); the fence tells the node, if it
// lives after all, on its next registration.
func (s *Store) Fence(ctx context.Context, node string) error {
	err := s.b.do(ctx, func(ctx context.Context) error {
		if err := s.b.put(ctx, fenceKey(node), []byte("1"), s.opts.Tombstone, anyRev); err != nil {
			return err
		}
		return s.b.del(ctx, nodeKey(node), anyRev)
	})
	if err != nil {
		return fmt.Errorf("cluster: fence node %q: %w", node, err)
	}
	s.mu.Lock()
	s.alive[node] = aliveEntry{false, time.Now().Add(aliveFor)}
	s.mu.Unlock()
	return nil
}

// gate reports whether the cluster recovers: the bucket lost its data and
// no node registered since, or nodes are claiming their sessions back. The
// marker is read first: registration writes the flag before the marker, so
// a marker seen means its flag is seen too (not so with both read at once).
func (s *Store) gate(ctx context.Context) (recovering bool, err error) {
	marker, err := s.b.get(ctx, markerKey)
	if err != nil {
		return false, err
	}
	if !marker.exists {
		return true, nil
	}
	rec, err := s.b.get(ctx, recoveringKey)
	if err != nil {
		return false, err
	}
	return rec.exists, nil
}

// Alive implements cluster.Store. While the store recovers from a restart
// (see ErrRecovering) a node's missing key says nothing: it gives
// ErrRecovering.
func (s *Store) Alive(ctx context.Context, nodes []string) ([]bool, error) {
	alive := make([]bool, len(nodes))
	err := s.b.do(ctx, func(ctx context.Context) error {
		all := true
		for i, n := range nodes {
			e, err := s.b.get(ctx, nodeKey(n))
			if err != nil {
				return err
			}
			alive[i] = e.exists
			all = all && e.exists
		}
		if all {
			return nil
		}
		recovering, err := s.gate(ctx)
		if err != nil {
			return err
		}
		if recovering {
			return ErrRecovering
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: node liveness: %w", err)
	}
	now := time.Now()
	s.mu.Lock()
	for i, n := range nodes {
		s.alive[n] = aliveEntry{alive[i], now.Add(aliveFor)}
	}
	if len(s.alive) > 4096 { // stale answers of nodes long gone
		for k, e := range s.alive {
			if now.After(e.until) {
				delete(s.alive, k)
			}
		}
	}
	s.mu.Unlock()
	return alive, nil
}

// ownerAlive checks owner's liveness, reusing an answer younger than
// aliveFor: Claim and Owner run on many requests.
func (s *Store) ownerAlive(ctx context.Context, owner string) (bool, error) {
	if owner == s.inc {
		return true, nil
	}
	s.mu.Lock()
	e, ok := s.alive[owner]
	s.mu.Unlock()
	if ok && time.Now().Before(e.until) {
		return e.alive, nil
	}
	a, err := s.Alive(ctx, []string{owner})
	if err != nil {
		return false, err
	}
	return a[0], nil
}

// claim returns the session's owner and whether this call created the
// record (create says whether it may).
func (s *Store) claim(ctx context.Context, id string, create bool) (owner string, created bool, err error) {
	err = s.b.do(ctx, func(ctx context.Context) error {
		for range casAttempts {
			rec, err := s.b.get(ctx, sessKey(id))
			if err != nil {
				return err
			}
			if rec.exists {
				owner, created = string(rec.value), false
				return nil
			}
			recovering, err := s.gate(ctx)
			if err != nil {
				return err
			}
			if recovering {
				return ErrRecovering
			}
			if !create {
				owner = ""
				return nil
			}
			err = s.b.put(ctx, sessKey(id), []byte(s.inc), s.opts.Tombstone, rec.rev)
			if errors.Is(err, errRevision) {
				continue // another node created it, or it expired meanwhile
			}
			if err != nil {
				return err
			}
			owner, created = s.inc, true
			return nil
		}
		return errors.New("the session's record kept changing; try again")
	})
	if err != nil {
		return "", false, err
	}
	if owner != "" && !created {
		alive, err := s.ownerAlive(ctx, owner)
		if err != nil {
			return "", false, err
		}
		if !alive {
			return "", false, fmt.Errorf("node %q: %w", owner, ErrSessionLost)
		}
	}
	return owner, created, nil
}

// Claim implements cluster.Store.
func (s *Store) Claim(ctx context.Context, id string) (owner string, created bool, err error) {
	owner, created, err = s.claim(ctx, id, true)
	if err != nil {
		return "", false, fmt.Errorf("cluster: claim session %q: %w", id, err)
	}
	return owner, created, nil
}

// Owner implements cluster.Store.
func (s *Store) Owner(ctx context.Context, id string) (string, error) {
	owner, _, err := s.claim(ctx, id, false)
	if err != nil {
		return "", fmt.Errorf("cluster: look up session %q: %w", id, err)
	}
	return owner, nil
}

// renewWorkers bounds the requests one Renew has in flight.
const renewWorkers = 16

// Renew implements cluster.Store.
func (s *Store) Renew(ctx context.Context, ids []string) (lost []string, err error) {
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan string)
	)
	for range min(renewWorkers, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				kept, err := s.renewOne(ctx, id)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = err
				case err == nil && !kept:
					lost = append(lost, id)
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- id
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return lost, fmt.Errorf("cluster: renew session records: %w", firstErr)
	}
	return lost, nil
}

// renewOne keeps session id's record, or claims it back when the bucket
// forgot it; kept is false when another node owns it now.
func (s *Store) renewOne(ctx context.Context, id string) (kept bool, err error) {
	err = s.b.do(ctx, func(ctx context.Context) error {
		for range casAttempts {
			rec, err := s.b.get(ctx, sessKey(id))
			if err != nil {
				return err
			}
			if rec.exists && string(rec.value) != s.inc {
				kept = false
				return nil
			}
			err = s.b.put(ctx, sessKey(id), []byte(s.inc), s.opts.Tombstone, rec.rev)
			if errors.Is(err, errRevision) {
				continue
			}
			kept = err == nil
			return err
		}
		return errors.New("the session's record kept changing; try again")
	})
	return kept, err
}

// Release forgets session id, which this node owns and has finished with
// (it closed and its close frame was remembered for the disconnect delay):
// its id may then be used again, as on one node. Releasing a session the
// node does not own gives ErrNotOwner.
func (s *Store) Release(ctx context.Context, id string) error {
	err := s.b.do(ctx, func(ctx context.Context) error {
		for range casAttempts {
			rec, err := s.b.get(ctx, sessKey(id))
			if err != nil {
				return err
			}
			if !rec.exists || string(rec.value) != s.inc {
				return ErrNotOwner
			}
			err = s.b.del(ctx, sessKey(id), rec.rev)
			if !errors.Is(err, errRevision) {
				return err
			}
		}
		return errors.New("the session's record kept changing; try again")
	})
	if err != nil {
		return fmt.Errorf("cluster: release session %q: %w", id, err)
	}
	return nil
}
