package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/history"
)

// HistoryOptions configures a History.
type HistoryOptions struct {
	// Prefix namespaces the keys, and names the channels messages are
	// published on: give the Bus's Prefix. Empty means DefaultPrefix.
	Prefix string
	// PublishCommand is the Redis command that publishes each message:
	// "PUBLISH" (empty means it), or "SPUBLISH" for a bus on sharded
	// pub/sub whose channels hash like the topic's keys.
	PublishCommand string
}

// History is a history.Store on Redis Streams: one stream per topic,
// trimmed by count (XADD MAXLEN ~) and age (XTRIM MINID ~), with the
// topic's epoch and last offset in a hash next to it. One script appends
// to the stream and publishes the framed message on the topic's Bus
// channel, so the offsets on the bus come in order and every published
// message is in the stream first.
//
// The keys of a topic carry it as a hash tag ({topic}), so that on Redis
// Cluster the script's keys share a slot. When the hash is gone (Redis
// restarted empty, or the topic idle past KeepPosition) the next publish or
// read starts a new epoch and drops any stream left without it: a client
// holding an old position is told it cannot recover, never replayed the
// wrong messages.
type History struct {
	rdb     goredis.UniversalClient
	prefix  string
	publish string
}

var _ history.Store = (*History)(nil)

// NewHistory returns a History on rdb; it holds no goroutine.
func NewHistory(rdb goredis.UniversalClient, opts HistoryOptions) *History {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.PublishCommand == "" {
		opts.PublishCommand = "PUBLISH"
	}
	return &History{rdb: rdb, prefix: opts.Prefix, publish: opts.PublishCommand}
}

func (h *History) keys(topic string) []string {
	return []string{h.prefix + "history:{" + topic + "}", h.prefix + "history-meta:{" + topic + "}"}
}

// channel is the Bus's channel for topic (Bus.channel).
func (h *History) channel(topic string) string { return h.prefix + "topic:" + topic }

// epochScript makes the topic's epoch when its hash is gone, dropping a
// stream left without it. It is the start of both scripts.
const epochScript = `
local e = redis.call('hget', KEYS[2], 'e')
if not e then
  e = ARGV[1]
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', e, 'o', 0)
  redis.call('pexpire', KEYS[2], ARGV[2])
end
`

// publishScript: KEYS stream, meta; ARGV new epoch, keep ms, payload, size,
// ttl ms, channel, publish command. Returns {offset, epoch}.
var publishScript = goredis.NewScript(epochScript + `
local o = redis.call('hincrby', KEYS[2], 'o', 1)
redis.call('xadd', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'o', o, 'p', ARGV[3])
local t = redis.call('time')
local minid = t[1] * 1000 + math.floor(t[2] / 1000) - tonumber(ARGV[5])
if minid > 0 then
  redis.call('xtrim', KEYS[1], 'MINID', '~', minid)
end
redis.call('pexpire', KEYS[1], ARGV[5])
redis.call('pexpire', KEYS[2], ARGV[2])
redis.call(ARGV[7], ARGV[6], 'h1:' .. o .. ':' .. e .. ':' .. ARGV[3])
return {o, e}
`)

// sinceScript: KEYS stream, meta; ARGV new epoch, keep ms, from offset,
// from epoch, limit. Returns {offset, epoch, entries} where entries are the newest
// (offset - from) stream entries, newest first, when from is of this epoch
// and no more than limit messages came after it.
var sinceScript = goredis.NewScript(epochScript + `
local o = tonumber(redis.call('hget', KEYS[2], 'o'))
local from = tonumber(ARGV[3])
local n = o - from
if e ~= ARGV[4] or n <= 0 or n > tonumber(ARGV[5]) then
  return {o, e, {}}
end
return {o, e, redis.call('xrevrange', KEYS[1], '+', '-', 'COUNT', n)}
`)

// Publish implements history.Store.
func (h *History) Publish(ctx context.Context, topic string, payload []byte, b history.Bounds) (history.Position, error) {
	b = b.WithDefaults()
	res, err := publishScript.Run(ctx, h.rdb, h.keys(topic),
		history.NewEpoch(), b.KeepPosition.Milliseconds(), payload, b.Size, b.TTL.Milliseconds(),
		h.channel(topic), h.publish).Slice()
	if err != nil {
		return history.Position{}, fmt.Errorf("cluster: publish with history on %q: %w (is Redis reachable?)", topic, err)
	}
	return parseTop(res)
}

// Since implements history.Store. The offsets of the stream's entries
// follow one another (only the oldest are trimmed), so the messages after
// from are the newest top-from entries.
func (h *History) Since(ctx context.Context, topic string, from history.Position, limit int) ([]history.Entry, history.Position, error) {
	res, err := sinceScript.Run(ctx, h.rdb, h.keys(topic),
		history.NewEpoch(), history.DefaultKeepPosition.Milliseconds(), from.Offset, from.Epoch, limit).Slice()
	if err != nil {
		return nil, history.Position{}, fmt.Errorf("cluster: read the history of %q: %w (is Redis reachable?)", topic, err)
	}
	top, err := parseTop(res)
	if err != nil {
		return nil, top, err
	}
	if len(res) < 3 {
		return nil, top, errors.New("cluster: unexpected answer of the history script")
	}
	raw, _ := res[2].([]any)
	entries := make([]history.Entry, len(raw))
	for i, r := range raw {
		e, err := parseStreamEntry(r, top.Epoch)
		if err != nil {
			return nil, top, err
		}
		entries[len(raw)-1-i] = e // the script reads newest first
	}
	return entries, top, nil
}

func parseTop(res []any) (history.Position, error) {
	if len(res) < 2 {
		return history.Position{}, errors.New("cluster: unexpected answer of the history script")
	}
	o, ok1 := res[0].(int64)
	e, ok2 := res[1].(string)
	if !ok1 || !ok2 || o < 0 {
		return history.Position{}, errors.New("cluster: unexpected answer of the history script")
	}
	return history.Position{Offset: uint64(o), Epoch: e}, nil
}

// parseStreamEntry reads one XRANGE entry: [id, [o, offset, p, payload]].
func parseStreamEntry(r any, epoch string) (history.Entry, error) {
	bad := errors.New("cluster: unexpected stream entry in the history")
	pair, ok := r.([]any)
	if !ok || len(pair) != 2 {
		return history.Entry{}, bad
	}
	fields, ok := pair[1].([]any)
	if !ok || len(fields) != 4 {
		return history.Entry{}, bad
	}
	os, _ := fields[1].(string)
	p, _ := fields[3].(string)
	o, err := strconv.ParseUint(os, 10, 64)
	if err != nil {
		return history.Entry{}, bad
	}
	return history.Entry{Position: history.Position{Offset: o, Epoch: epoch}, Payload: []byte(p)}, nil
}

// History returns a History on the bus's Redis client and prefix, so that it
// publishes on the channels the bus subscribes to.
func (b *Bus) History() *History {
	return NewHistory(b.rdb, HistoryOptions{Prefix: strings.TrimSuffix(b.prefix, "topic:")})
}
