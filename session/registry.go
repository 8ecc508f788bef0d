package session

import (
	"hash/maphash"
	"sync"
)

// Registry finds sessions by id. The in-memory Memory registry is the
// default; a cluster registry can implement the same interface to find
// sessions held by another node.
//
// Implementations must be safe for concurrent use and must never call
// create (or anything else outside themselves) while holding a lock that
// other lookups need for long: create only builds a Session.
type Registry interface {
	// Load returns the session with id.
	Load(id string) (*Session, bool)
	// LoadOrCreate returns the session with id, or stores and returns the one
	// create builds; created says which.
	LoadOrCreate(id string, create func() *Session) (s *Session, created bool)
	// Delete forgets s if it is still the session stored under its id. It
	// is called from the shared timer goroutine when a session expires, so
	// it must be quick and must not block (a cluster registry should hand
	// remote work to a goroutine of its own).
	Delete(s *Session)
	// Range calls f for every session until f returns false. f runs without
	// the registry's locks held, on a snapshot.
	Range(f func(*Session) bool)
	// Len returns the number of sessions.
	Len() int
}

const shardCount = 64

// Memory is an in-memory Registry, sharded so that lookups of different
// sessions rarely contend.
type Memory struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*Session
}

// NewMemory returns an empty in-memory registry.
func NewMemory() *Memory {
	r := &Memory{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].m = make(map[string]*Session)
	}
	return r
}

func (r *Memory) shard(id string) *shard {
	return &r.shards[maphash.String(r.seed, id)%shardCount]
}

// Load implements Registry.
func (r *Memory) Load(id string) (*Session, bool) {
	sh := r.shard(id)
	sh.mu.RLock()
	s, ok := sh.m[id]
	sh.mu.RUnlock()
	return s, ok
}

// LoadOrCreate implements Registry.
func (r *Memory) LoadOrCreate(id string, create func() *Session) (*Session, bool) {
	if s, ok := r.Load(id); ok {
		return s, false
	}
	sh := r.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s, ok := sh.m[id]; ok {
		return s, false
	}
	s := create()
	sh.m[id] = s
	return s, true
}

// Delete implements Registry.
func (r *Memory) Delete(s *Session) {
	sh := r.shard(s.id)
	sh.mu.Lock()
	if sh.m[s.id] == s {
		delete(sh.m, s.id)
	}
	sh.mu.Unlock()
}

// Range implements Registry.
func (r *Memory) Range(f func(*Session) bool) {
	var snap []*Session
	for i := range r.shards {
		sh := &r.shards[i]
		snap = snap[:0]
		sh.mu.RLock()
		for _, s := range sh.m {
			snap = append(snap, s)
		}
		sh.mu.RUnlock()
		for _, s := range snap {
			if !f(s) {
				return
			}
		}
	}
}

// Len implements Registry.
func (r *Memory) Len() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
