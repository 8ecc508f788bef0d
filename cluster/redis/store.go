package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/cluster"
)

// Defaults of StoreOptions.
const (
	DefaultPrefix    = "sockline:"
	DefaultLease     = 10 * time.Second
	DefaultTombstone = 5 * time.Minute
)

// Errors of the store, as package cluster defines them. Redis errors are
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
	// Prefix namespaces every key. Empty means DefaultPrefix.
	Prefix string
	// Lease is how long a node stays alive without renewing its
	// registration; it renews every third of it (sockjs.Cluster's
	// RenewInterval). A dead node's sessions end at most this long after it
	// died. Zero means DefaultLease.
	Lease time.Duration
	// Tombstone is how long a session's record outlives its owner, so that
	// late requests get a close frame rather than a new session; the owner
	// keeps the records of live sessions (Renew) every third of it. Zero
	// means DefaultTombstone.
	Tombstone time.Duration
}

// Store keeps session ownership and node liveness in Redis. It implements
// cluster.Store, on one Redis, a Redis Cluster or Redis with Sentinel.
//
// Keys: one per node (its liveness, with the lease), one per session (its
// owner's incarnation, kept for Tombstone and renewed every third of it),
// and per slot group a marker that Redis still has the group's data (set by
// the first registration, missing after Redis, or the shard holding the
// group, restarted empty) and a short "recovering" flag while the nodes
// claim their sessions back. Every key carries the hash tag of its group
// ({g0} to {g63}, chosen by a hash of the session or node), so each Lua
// script touches one slot of a Redis Cluster.
type Store struct {
	rdb  goredis.UniversalClient
	opts StoreOptions
	inc  string

	registered bool // Register succeeded once; under mu
	mu         sync.Mutex
	alive      map[string]aliveEntry // liveness answers, kept briefly
}

type aliveEntry struct {
	alive bool
	until time.Time
}

// aliveFor is how long a liveness answer is reused by Claim and Owner.
const aliveFor = 500 * time.Millisecond

// groups is how many slot groups the keys are spread over: enough to spread
// them over the masters of a Redis Cluster, few enough that a registration
// checks every group's marker in one pipeline.
const groups = 64

var _ cluster.Store = (*Store)(nil)

// NewStore returns a Store using rdb: a *goredis.Client for one Redis or
// Sentinel (NewClient, NewSentinelClient), a *goredis.ClusterClient for a
// Redis Cluster (NewClusterClient).
func NewStore(rdb goredis.UniversalClient, opts StoreOptions) (*Store, error) {
	if opts.Node == "" {
		return nil, errors.New("cluster: StoreOptions.Node must name this node (for example host:port or the pod name)")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("cluster: StoreOptions.Prefix %q must not contain { or }: the store adds its own hash tags", opts.Prefix)
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultLease
	}
	if opts.Tombstone == 0 {
		opts.Tombstone = DefaultTombstone
	}
	if opts.Lease < 0 || opts.Tombstone < opts.Lease {
		return nil, fmt.Errorf("cluster: Lease (%v) must be positive and Tombstone (%v) at least as long", opts.Lease, opts.Tombstone)
	}
	return &Store{rdb: rdb, opts: opts, inc: cluster.Incarnation(opts.Node), alive: make(map[string]aliveEntry)}, nil
}

// Node returns this node's incarnation: StoreOptions.Node and a random
// epoch drawn when the Store was made.
func (s *Store) Node() string { return s.inc }

// RenewEvery implements cluster.Store: a third of Tombstone.
func (s *Store) RenewEvery() time.Duration { return s.opts.Tombstone / 3 }

// group returns the slot group of a session id or node incarnation.
func group(name string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % groups)
}

// tag returns the hash tag of group g.
func tag(g int) string { return "{g" + strconv.Itoa(g) + "}" }

func (s *Store) sessKey(id string) string {
	return s.opts.Prefix + "sess:" + tag(group(id)) + id
}
func (s *Store) nodeKey(inc string) string  { return s.opts.Prefix + "node:" + tag(group(inc)) + inc }
func (s *Store) fenceKey(inc string) string { return s.opts.Prefix + "fenced:" + tag(group(inc)) + inc }

// markerKey and recoveringKey are group g's marker and recovering flag.
func (s *Store) markerKey(g int) string     { return s.opts.Prefix + "cluster:" + tag(g) }
func (s *Store) recoveringKey(g int) string { return s.opts.Prefix + "recovering:" + tag(g) }

// gateKeys returns k, and the marker and recovering flag of name's group.
func (s *Store) gateKeys(k, name string) []string {
	g := group(name)
	return []string{k, s.markerKey(g), s.recoveringKey(g)}
}
func (s *Store) recoveryGrace() time.Duration { return s.opts.Lease / 2 }

// registerScript: KEYS node, marker, recovering, fence (one group); ARGV
// lease ms, grace ms, registered before (0/1). Returns 1 when the node was
// known, 0 when not (first registration, or its group restarted empty:
// then the group recovers for grace, and every node that registers again
// meanwhile claims its sessions back), -1 when its registration lapsed
// while Redis kept its data, or it was fenced: other nodes have answered
// its sessions as lost.
var registerScript = goredis.NewScript(`
if redis.call('DEL', KEYS[4]) == 1 then return -1 end
local known = redis.call('EXISTS', KEYS[1])
local marker = redis.call('EXISTS', KEYS[2])
if known == 0 and marker == 1 and ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
if marker == 0 then
  redis.call('SET', KEYS[2], '1')
  if ARGV[3] == '1' then redis.call('SET', KEYS[3], '1', 'PX', ARGV[2]) end
end
return known
`)

// gateScript: KEYS marker, recovering (one group); ARGV grace ms,
// registered before (0/1). Sets a missing marker, and then the recovering
// flag when the node registered before (the group lost its data). Returns
// 1 when the group is whole and not recovering, 0 otherwise.
var gateScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], '1')
  if ARGV[2] == '1' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) return 0 end
  return 1
end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
return 1
`)

// Register implements cluster.Store. A node whose registration lapsed
// (cut from Redis longer than the lease while Redis kept its data) gets
// ErrSessionLost: other nodes have answered its sessions as lost, so it
// must close them; it is registered again by the next call.
func (s *Store) Register(ctx context.Context) (bool, error) {
	s.mu.Lock()
	before := s.registered
	s.mu.Unlock()
	flag := "0"
	if before {
		flag = "1"
	}
	// One pipeline, one round trip per master: the node's registration,
	// then every group's marker (see gateCmds).
	keys := []string{s.nodeKey(s.inc), s.markerKey(group(s.inc)), s.recoveringKey(group(s.inc)), s.fenceKey(s.inc)}
	cmds, err := s.pipelineScript(ctx, func(c goredis.Scripter) []*goredis.Cmd {
		reg := registerScript.EvalSha(ctx, c, keys, s.opts.Lease.Milliseconds(), s.recoveryGrace().Milliseconds(), flag)
		return append([]*goredis.Cmd{reg}, s.gateCmds(ctx, c, flag)...)
	}, registerScript, gateScript)
	if err != nil {
		if cc, ok := s.rdb.(*goredis.ClusterClient); ok {
			cc.ReloadState(ctx) // a master may have failed over
		}
		return false, fmt.Errorf("cluster: register node %q: %w", s.inc, err)
	}
	n, _ := cmds[0].Int64()
	if n < 0 {
		s.mu.Lock()
		s.registered = false
		s.mu.Unlock()
		return false, fmt.Errorf("cluster: node %q was not renewed within its lease (%v): %w", s.inc, s.opts.Lease, ErrSessionLost)
	}
	whole := true
	for _, c := range cmds[1:] {
		if g, _ := c.Int64(); g != 1 {
			whole = false
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registered = true
	return n == 1 && whole, nil
}

// gateCmds adds to c a check of every group's marker, which sets those
// missing (and their recovering flag when before is "1"); each answers 1
// when its group is whole and not recovering. Otherwise sessions this node
// holds may have lost their records, and it must claim them back.
func (s *Store) gateCmds(ctx context.Context, c goredis.Scripter, before string) []*goredis.Cmd {
	cmds := make([]*goredis.Cmd, groups)
	for g := range groups {
		cmds[g] = gateScript.EvalSha(ctx, c, []string{s.markerKey(g), s.recoveringKey(g)}, s.recoveryGrace().Milliseconds(), before)
	}
	return cmds
}

// pipelineScript runs the EvalSha commands that run adds to a pipeline;
// when a server does not have a script (a new master after a failover, or
// a restarted Redis), it loads scripts and runs them once more.
func (s *Store) pipelineScript(ctx context.Context, run func(goredis.Scripter) []*goredis.Cmd, scripts ...*goredis.Script) ([]*goredis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		cmds := run(pipe)
		_, err := pipe.Exec(ctx)
		if err == nil {
			return cmds, nil
		}
		if attempt > 0 || !goredis.HasErrorPrefix(err, "NOSCRIPT") {
			return nil, err
		}
		for _, sc := range scripts {
			if err := sc.Load(ctx, s.rdb).Err(); err != nil {
				return nil, err
			}
		}
	}
}

// Deregister implements cluster.Store.
func (s *Store) Deregister(ctx context.Context) error {
	if err := s.rdb.Del(ctx, s.nodeKey(s.inc)).Err(); err != nil {
		return fmt.Errorf("cluster: deregister node %q: %w", s.inc, err)
	}
	return nil
}

// fenceScript: KEYS node, fence; ARGV fence ms. The node key goes (the
// node is gone for everyone); the fence tells the node, if it lives after
// all, on its next registration.
var fenceScript = goredis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return 1
`)

// Fence implements cluster.Store.
func (s *Store) Fence(ctx context.Context, node string) error {
	if err := fenceScript.Run(ctx, s.rdb, []string{s.nodeKey(node), s.fenceKey(node)}, s.opts.Tombstone.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("cluster: fence node %q: %w", node, err)
	}
	s.mu.Lock()
	s.alive[node] = aliveEntry{false, time.Now().Add(aliveFor)}
	s.mu.Unlock()
	return nil
}

// Alive implements cluster.Store. While the store recovers from a restart
// (see ErrRecovering) a node's missing key says nothing: it gives
// ErrRecovering.
func (s *Store) Alive(ctx context.Context, nodes []string) ([]bool, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([][3]*goredis.IntCmd, len(nodes))
	for i, n := range nodes {
		g := group(n)
		cmds[i] = [3]*goredis.IntCmd{pipe.Exists(ctx, s.nodeKey(n)), pipe.Exists(ctx, s.markerKey(g)), pipe.Exists(ctx, s.recoveringKey(g))}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("cluster: node liveness: %w", err)
	}
	for _, c := range cmds {
		if c[0].Val() == 0 && (c[1].Val() == 0 || c[2].Val() == 1) {
			return nil, fmt.Errorf("cluster: node liveness: %w", ErrRecovering)
		}
	}
	alive := make([]bool, len(nodes))
	now := time.Now()
	s.mu.Lock()
	for i, c := range cmds {
		alive[i] = c[0].Val() == 1
		s.alive[nodes[i]] = aliveEntry{alive[i], now.Add(aliveFor)}
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

// claimScript: KEYS session, marker, recovering; ARGV node, record ms,
// create (0/1). Returns {0, owner} when a node owns the session, {1, node}
// when this call created it, {2, ""} when it does not exist, {3, ""} when
// it does not exist and the cluster is recovering.
var claimScript = goredis.NewScript(`
local owner = redis.call('GET', KEYS[1])
if owner then return {0, owner} end
if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('EXISTS', KEYS[3]) == 1 then return {3, ''} end
if ARGV[3] == '0' then return {2, ''} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, ARGV[1]}
`)

func (s *Store) claim(ctx context.Context, id string, create bool) (owner string, code int64, err error) {
	flag := "0"
	if create {
		flag = "1"
	}
	res, err := claimScript.Run(ctx, s.rdb, s.gateKeys(s.sessKey(id), id), s.inc, s.opts.Tombstone.Milliseconds(), flag).Slice()
	if err != nil {
		return "", 0, err
	}
	code, _ = res[0].(int64)
	owner, _ = res[1].(string)
	if code == 3 {
		return "", 0, fmt.Errorf("cluster: session %q: %w", id, ErrRecovering)
	}
	if code == 0 {
		alive, err := s.ownerAlive(ctx, owner)
		if err != nil {
			return "", 0, err
		}
		if !alive {
			return "", 0, fmt.Errorf("cluster: session %q of node %q: %w", id, owner, ErrSessionLost)
		}
	}
	return owner, code, nil
}

// Claim implements cluster.Store.
func (s *Store) Claim(ctx context.Context, id string) (owner string, created bool, err error) {
	owner, code, err := s.claim(ctx, id, true)
	if err != nil {
		return "", false, fmt.Errorf("cluster: claim session %q: %w", id, err)
	}
	return owner, code == 1, nil
}

// Owner implements cluster.Store.
func (s *Store) Owner(ctx context.Context, id string) (string, error) {
	owner, _, err := s.claim(ctx, id, false)
	if err != nil {
		return "", fmt.Errorf("cluster: look up session %q: %w", id, err)
	}
	return owner, nil
}

// renewScript: KEYS session; ARGV node, record ms. Returns 1 when kept or
// claimed back (Redis forgot it), 0 when another node owns it now.
var renewScript = goredis.NewScript(`
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// renewBatch bounds one pipeline, so that renewing 100k sessions does not
// build one huge request.
const renewBatch = 1000

// Renew implements cluster.Store.
func (s *Store) Renew(ctx context.Context, ids []string) (lost []string, err error) {
	for start := 0; start < len(ids); start += renewBatch {
		batch := ids[start:min(start+renewBatch, len(ids))]
		cmds, err := s.pipelineScript(ctx, func(c goredis.Scripter) []*goredis.Cmd {
			cmds := make([]*goredis.Cmd, len(batch))
			for i, id := range batch {
				cmds[i] = renewScript.EvalSha(ctx, c, []string{s.sessKey(id)}, s.inc, s.opts.Tombstone.Milliseconds())
			}
			return cmds
		}, renewScript)
		if err != nil {
			return lost, fmt.Errorf("cluster: renew session records: %w", err)
		}
		for i, c := range cmds {
			if n, _ := c.Int64(); n != 1 {
				lost = append(lost, batch[i])
			}
		}
	}
	return lost, nil
}

// releaseScript: KEYS session; ARGV node. Deletes the session's record
// when node owns it.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// Release forgets session id, which this node owns and has finished with
// (it closed and its close frame was remembered for the disconnect delay):
// its id may then be used again, as on one node. Releasing a session the
// node does not own gives ErrNotOwner.
func (s *Store) Release(ctx context.Context, id string) error {
	n, err := releaseScript.Run(ctx, s.rdb, []string{s.sessKey(id)}, s.inc).Int64()
	if err != nil {
		return fmt.Errorf("cluster: release session %q: %w", id, err)
	}
	if n != 1 {
		return fmt.Errorf("cluster: release session %q: %w", id, ErrNotOwner)
	}
	return nil
}
