package redis

import (
	"context"
	"errors"
	"fmt"
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
)

// StoreOptions configures a Store.
type StoreOptions struct {
	// Node is this node's unique id: what Owner returns for the sessions it
	// owns. Required.
	Node string
	// Prefix namespaces every key. Empty means DefaultPrefix.
	Prefix string
	// Lease is how long a session stays owned without a renewal; the owner
	// renews well within it (every third of it). A dead node's sessions end
	// at most this long after it died. Zero means DefaultLease.
	Lease time.Duration
	// Tombstone is how long a session's id stays known after its owner
	// stopped renewing it, so that late requests get a close frame rather
	// than a new session. Zero means DefaultTombstone.
	Tombstone time.Duration
}

// Store keeps session ownership and receiver slots in Redis. It implements
// cluster.Store.
type Store struct {
	rdb  goredis.UniversalClient
	opts StoreOptions
}

var _ cluster.Store = (*Store)(nil)

// NewStore returns a Store using rdb.
func NewStore(rdb goredis.UniversalClient, opts StoreOptions) (*Store, error) {
	if opts.Node == "" {
		return nil, errors.New("cluster: StoreOptions.Node must name this node uniquely (for example host:port or a random id)")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
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
	return &Store{rdb: rdb, opts: opts}, nil
}

// Node returns this node's id.
func (s *Store) Node() string { return s.opts.Node }

// keys of one session: the owner (with the lease), the tombstone, and the
// receiver slot. The hash tag keeps them in one Redis Cluster slot.
func (s *Store) ownerKey(id string) string { return s.opts.Prefix + "sess:{" + id + "}" }
func (s *Store) tombKey(id string) string  { return s.opts.Prefix + "seen:{" + id + "}" }
func (s *Store) recvKey(id string) string  { return s.opts.Prefix + "recv:{" + id + "}" }

// claimScript: KEYS owner, tomb; ARGV node, lease ms, tomb ms. Returns
// {1, node} when this call created the session, {0, owner} when a node
// owns it, {2, ""} when it existed and its owner stopped renewing it.
var claimScript = goredis.NewScript(`
local owner = redis.call('GET', KEYS[1])
if owner then return {0, owner} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {2, ''} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return {1, ARGV[1]}
`)

// Claim returns the node that owns session id, making this node its owner
// when no node does: created reports that. A session whose owner stopped
// renewing it gives ErrSessionLost.
func (s *Store) Claim(ctx context.Context, id string) (owner string, created bool, err error) {
	res, err := claimScript.Run(ctx, s.rdb, []string{s.ownerKey(id), s.tombKey(id)},
		s.opts.Node, s.opts.Lease.Milliseconds(), s.opts.Tombstone.Milliseconds()).Slice()
	if err != nil {
		return "", false, fmt.Errorf("cluster: claim session %q: %w", id, err)
	}
	code, _ := res[0].(int64)
	owner, _ = res[1].(string)
	switch code {
	case 1:
		return owner, true, nil
	case 0:
		return owner, false, nil
	default:
		return "", false, fmt.Errorf("cluster: session %q: %w", id, ErrSessionLost)
	}
}

// Owner returns the node that owns session id without claiming it: "" and
// no error when the session does not exist, ErrSessionLost when its owner
// stopped renewing it.
func (s *Store) Owner(ctx context.Context, id string) (string, error) {
	vals, err := s.rdb.MGet(ctx, s.ownerKey(id), s.tombKey(id)).Result()
	if err != nil {
		return "", fmt.Errorf("cluster: look up session %q: %w", id, err)
	}
	if owner, ok := vals[0].(string); ok {
		return owner, nil
	}
	if vals[1] != nil {
		return "", fmt.Errorf("cluster: session %q: %w", id, ErrSessionLost)
	}
	return "", nil
}

// renewScript: KEYS owner, tomb; ARGV node, lease ms, tomb ms. Returns 1
// when renewed, 0 when the node does not own the session any more. A
// session with neither key (Redis restarted empty, or failed over to a
// replica that missed them) is claimed back: the node still holds it, and
// without this any other node would create a second session under its id.
var renewScript = goredis.NewScript(`
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
if owner or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 1
`)

// renewBatch bounds one pipeline, so that renewing 100k sessions does not
// build one huge request.
const renewBatch = 1000

// Renew extends the lease of every session in ids that this node owns, and
// returns the ids it no longer owns (their lease ran out: the node was cut
// from Redis too long, and the sessions must end). Sessions Redis forgot
// entirely (it restarted empty) are claimed back.
func (s *Store) Renew(ctx context.Context, ids []string) (lost []string, err error) {
	if err := renewScript.Load(ctx, s.rdb).Err(); err != nil {
		return nil, fmt.Errorf("cluster: renew leases: %w", err)
	}
	for start := 0; start < len(ids); start += renewBatch {
		batch := ids[start:min(start+renewBatch, len(ids))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*goredis.Cmd, len(batch))
		for i, id := range batch {
			cmds[i] = renewScript.EvalSha(ctx, pipe, []string{s.ownerKey(id), s.tombKey(id)},
				s.opts.Node, s.opts.Lease.Milliseconds(), s.opts.Tombstone.Milliseconds())
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return lost, fmt.Errorf("cluster: renew leases: %w", err)
		}
		for i, c := range cmds {
			if n, _ := c.Int64(); n != 1 {
				lost = append(lost, batch[i])
			}
		}
	}
	return lost, nil
}

// releaseScript: KEYS owner, tomb, recv; ARGV node. Deletes the session's
// keys when node owns it.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`)

// Release forgets session id, which this node owns and has finished with
// (it closed and its close frame was remembered for the disconnect delay):
// its id may then be used again, as on one node. Releasing a session the
// node does not own gives ErrNotOwner.
func (s *Store) Release(ctx context.Context, id string) error {
	n, err := releaseScript.Run(ctx, s.rdb, []string{s.ownerKey(id), s.tombKey(id), s.recvKey(id)}, s.opts.Node).Int64()
	if err != nil {
		return fmt.Errorf("cluster: release session %q: %w", id, err)
	}
	if n != 1 {
		return fmt.Errorf("cluster: release session %q: %w", id, ErrNotOwner)
	}
	return nil
}

// AcquireReceiver takes session id's receiver slot for holder (a request's
// unique id) for ttl: ok is false, with the current holder, when another
// receiving request holds it. The holder renews the slot while its request
// is open and releases it when the request ends; a holder that dies frees
// the slot after ttl.
func (s *Store) AcquireReceiver(ctx context.Context, id, holder string, ttl time.Duration) (ok bool, current string, err error) {
	set, err := s.rdb.SetArgs(ctx, s.recvKey(id), holder, goredis.SetArgs{Mode: "NX", TTL: ttl, Get: true}).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return true, holder, nil // there was no value: ours is set
	case err != nil:
		return false, "", fmt.Errorf("cluster: acquire the receiver slot of session %q: %w", id, err)
	default:
		return false, set, nil
	}
}

// compareScript: KEYS key; ARGV holder, ttl ms (0: delete). Extends or
// deletes the key only if it still holds holder.
var compareScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`)

// RenewReceiver extends holder's receiver slot of session id; false means
// the slot expired and another request may hold it now.
func (s *Store) RenewReceiver(ctx context.Context, id, holder string, ttl time.Duration) (bool, error) {
	n, err := compareScript.Run(ctx, s.rdb, []string{s.recvKey(id)}, holder, max(ttl.Milliseconds(), 1)).Int64()
	if err != nil {
		return false, fmt.Errorf("cluster: renew the receiver slot of session %q: %w", id, err)
	}
	return n == 1, nil
}

// ReleaseReceiver frees session id's receiver slot if holder still holds it.
func (s *Store) ReleaseReceiver(ctx context.Context, id, holder string) error {
	if _, err := compareScript.Run(ctx, s.rdb, []string{s.recvKey(id)}, holder, 0).Result(); err != nil {
		return fmt.Errorf("cluster: release the receiver slot of session %q: %w", id, err)
	}
	return nil
}
