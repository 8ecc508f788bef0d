package redis

import (
	"context"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/presence"
)

// Presence is a presence.Store on Redis: per topic a hash of members (id to
// info) and a sorted set of their expiry times, both hash-tagged with the
// topic so that they share a Redis Cluster slot. Both keys expire with
// their latest member, so a topic everyone left costs nothing.
type Presence struct {
	rdb    goredis.UniversalClient
	prefix string
}

var _ presence.Store = (*Presence)(nil)

// NewPresence returns a Presence on rdb, its keys under prefix (empty
// means DefaultPrefix); it holds no goroutine.
func NewPresence(rdb goredis.UniversalClient, prefix string) *Presence {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Presence{rdb: rdb, prefix: prefix}
}

func (p *Presence) keys(topic string) []string {
	return []string{p.prefix + "presence:{" + topic + "}", p.prefix + "presence-exp:{" + topic + "}"}
}

// joinScript: KEYS members, expiries; ARGV ttl ms, then id, info pairs.
var joinScript = goredis.NewScript(`
local t = redis.call('time')
local exp = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('zadd', KEYS[2], exp, ARGV[i])
end
local keep = redis.call('pttl', KEYS[1])
if keep < tonumber(ARGV[1]) then
  redis.call('pexpire', KEYS[1], ARGV[1])
  redis.call('pexpire', KEYS[2], ARGV[1])
end
return 1
`)

// membersScript: KEYS members, expiries. Returns {expired id, info pairs,
// all id, info pairs} after removing the expired.
var membersScript = goredis.NewScript(`
local t = redis.call('time')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local gone = redis.call('zrangebyscore', KEYS[2], '-inf', now)
local expired = {}
for _, id in ipairs(gone) do
  local info = redis.call('hget', KEYS[1], id)
  if info then
    table.insert(expired, id)
    table.insert(expired, info)
    redis.call('hdel', KEYS[1], id)
  end
  redis.call('zrem', KEYS[2], id)
end
return {expired, redis.call('hgetall', KEYS[1])}
`)

// leaveScript: KEYS members, expiries; ARGV id.
var leaveScript = goredis.NewScript(`
redis.call('zrem', KEYS[2], ARGV[1])
return redis.call('hdel', KEYS[1], ARGV[1])
`)

// joinBatch is how many members one script call adds: a few milliseconds
// of Redis time, so that a node renewing 10k members never blocks Redis
// for long (a script runs alone).
const joinBatch = 500

// Join implements presence.Store: members are added joinBatch per script
// call, pipelined, so 10k renewals are one round trip.
func (p *Presence) Join(ctx context.Context, topic string, ttl time.Duration, members ...presence.Member) error {
	if len(members) == 0 {
		return nil
	}
	keys := p.keys(topic)
	_, err := p.rdb.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for len(members) > 0 {
			batch := members[:min(joinBatch, len(members))]
			members = members[len(batch):]
			args := make([]any, 0, 1+2*len(batch))
			args = append(args, ttl.Milliseconds())
			for _, m := range batch {
				args = append(args, m.ID, m.Info)
			}
			joinScript.Eval(ctx, pipe, keys, args...) // EVAL: no NOSCRIPT inside a pipeline
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: join presence of %q: %w (is Redis reachable?)", topic, err)
	}
	return nil
}

// Leave implements presence.Store.
func (p *Presence) Leave(ctx context.Context, topic, id string) (bool, error) {
	n, err := leaveScript.Run(ctx, p.rdb, p.keys(topic), id).Int()
	if err != nil {
		return false, fmt.Errorf("cluster: leave presence of %q: %w (is Redis reachable?)", topic, err)
	}
	return n > 0, nil
}

// Members implements presence.Store.
func (p *Presence) Members(ctx context.Context, topic string) (members, expired []presence.Member, err error) {
	res, err := membersScript.Run(ctx, p.rdb, p.keys(topic)).Slice()
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: read presence of %q: %w (is Redis reachable?)", topic, err)
	}
	if len(res) != 2 {
		return nil, nil, fmt.Errorf("cluster: unexpected answer of the presence script")
	}
	return pairs(res[1]), pairs(res[0]), nil
}

func pairs(v any) []presence.Member {
	list, _ := v.([]any)
	out := make([]presence.Member, 0, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		id, _ := list[i].(string)
		info, _ := list[i+1].(string)
		out = append(out, presence.Member{ID: id, Info: info})
	}
	return out
}

// Presence returns a Presence on the bus's Redis client and prefix.
func (b *Bus) Presence() *Presence {
	return NewPresence(b.rdb, strings.TrimSuffix(b.prefix, "topic:"))
}
