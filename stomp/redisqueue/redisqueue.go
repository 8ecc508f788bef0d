// Package redisqueue is a stomp.QueueStore on Redis Streams: the STOMP
// queues of every node that uses the same Redis are shared.
//
// Each queue is one stream, {Prefix}{queue} with the queue name as hash tag
// (so it also runs on Redis Cluster), read by one consumer group. A node
// with local consumers of a queue reads new entries with XREADGROUP, one
// at a time, only when a local subscriber can take one; a STOMP ACK (or
// delivery in auto mode) is XACK and XDEL; a NACK, or a consumer leaving
// with unacknowledged messages, adds the entry anew and acknowledges the
// old one, in one MULTI, so another consumer gets it at once (at the end of
// the queue: redelivered messages lose their place). A node keeps the
// entries it holds fresh (XCLAIM of its own, every ClaimAfter/4); entries
// idle for ClaimAfter belong to a node that died, and any node reading the
// queue takes them over with XAUTOCLAIM and delivers them again. So each
// message reaches one consumer, unless its node stalls for ClaimAfter
// while holding it (then it may reach two: at-least-once at worst).
//
// Bounds: the stream grows while nobody consumes; Redis's maxmemory policy
// bounds it (the stomp.Config queue bounds do not apply).
package redisqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/stomp"
)

// Options configures a Store. The zero value works.
type Options struct {
	// Prefix starts every key. Empty means "stomp:queue:".
	Prefix string
	// Group is the consumer group. Empty means "stomp".
	Group string
	// Node names this node's consumers. Empty means a random id.
	Node string
	// ClaimAfter is how long an entry held by a silent node waits before
	// another node redelivers it. Zero means 30 s.
	ClaimAfter time.Duration
	// Block bounds one XREADGROUP wait, and so how long Close may take.
	// Zero means 500 ms.
	Block time.Duration
	// MaxBacklog bounds the messages one queue holds (waiting or delivered
	// and not acknowledged); a Put past it fails with stomp.ErrQueueFull.
	// Zero means stomp.DefaultMaxQueueBacklog; negative: no bound.
	MaxBacklog int
	// MaxBytes bounds the bytes all queues hold together, counted as each
	// message's payload plus entryOverhead (what a stream entry costs
	// Redis besides it); a Put past it fails with stomp.ErrQueueFull. The
	// count is shared by every node through one Redis key, checked before
	// each Put and updated after it, so concurrent Puts may pass it by
	// what they carry. Zero means stomp.DefaultMaxQueuedBytes; negative:
	// no bound.
	MaxBytes int64
}

// entryOverhead is what a stream entry costs Redis besides its payload,
// roughly: the entry id, the field name and the listpack's bookkeeping.
const entryOverhead = 64

// putScript appends a message to a queue's stream unless the queue holds
// its limit of messages: KEYS[1] the stream, KEYS[2] its byte count (same
// slot); ARGV[1] the payload, ARGV[2] the backlog limit (negative: none),
// ARGV[3] the message's cost. It returns 1, or 0 when the queue is full.
var putScript = goredis.NewScript(`
local limit = tonumber(ARGV[2])
if limit >= 0 and redis.call('XLEN', KEYS[1]) >= limit then return 0 end
redis.call('XADD', KEYS[1], '*', 'p', ARGV[1])
redis.call('INCRBY', KEYS[2], ARGV[3])
return 1
`)

// Store is a stomp.QueueStore on Redis Streams. It is safe for concurrent
// use.
type Store struct {
	rdb  goredis.UniversalClient
	o    Options
	next atomic.Uint64
}

var _ stomp.QueueStore = (*Store)(nil)

// New returns a Store on rdb (a *goredis.Client, or a ClusterClient).
func New(rdb goredis.UniversalClient, o Options) *Store {
	if o.Prefix == "" {
		o.Prefix = "stomp:queue:"
	}
	if o.Group == "" {
		o.Group = "stomp"
	}
	if o.Node == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		o.Node = hex.EncodeToString(b)
	}
	if o.ClaimAfter <= 0 {
		o.ClaimAfter = 30 * time.Second
	}
	if o.Block <= 0 {
		o.Block = 500 * time.Millisecond
	}
	if o.MaxBacklog == 0 {
		o.MaxBacklog = stomp.DefaultMaxQueueBacklog
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = stomp.DefaultMaxQueuedBytes
	}
	return &Store{rdb: rdb, o: o}
}

// bytesKey counts the bytes of queue's messages (in its stream's slot);
// totalKey those of every queue.
func (s *Store) bytesKey(queue string) string { return s.key(queue) + ":bytes" }
func (s *Store) totalKey() string             { return s.o.Prefix + "total-bytes" }

// cost is what a message of payload counts against MaxBytes.
func cost(payload []byte) int64 { return int64(len(payload)) + entryOverhead }

// key is the queue's stream; the braces make the name the hash tag.
func (s *Store) key(queue string) string {
	return s.o.Prefix + "{" + strings.NewReplacer("{", "(", "}", ")").Replace(queue) + "}"
}

// Put implements stomp.QueueStore.
func (s *Store) Put(ctx context.Context, queue string, payload []byte) error {
	c := cost(payload)
	if s.o.MaxBytes > 0 {
		total, err := s.rdb.Get(ctx, s.totalKey()).Int64()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return fmt.Errorf("redisqueue: queued bytes: %w", err)
		}
		if total+c > s.o.MaxBytes {
			return fmt.Errorf("%w: %s (the queues hold %d bytes, MaxBytes %d)", stomp.ErrQueueFull, queue, total, s.o.MaxBytes)
		}
	}
	limit := s.o.MaxBacklog
	if limit < 0 {
		limit = -1
	}
	ok, err := putScript.Run(ctx, s.rdb, []string{s.key(queue), s.bytesKey(queue)}, payload, limit, c).Int()
	if err != nil {
		return fmt.Errorf("redisqueue: XADD %s: %w", queue, err)
	}
	if ok == 0 {
		return fmt.Errorf("%w: %s (MaxBacklog %d)", stomp.ErrQueueFull, queue, s.o.MaxBacklog)
	}
	if err := s.rdb.IncrBy(ctx, s.totalKey(), c).Err(); err != nil {
		return fmt.Errorf("redisqueue: queued bytes: %w", err)
	}
	return nil
}

// Consume implements stomp.QueueStore.
func (s *Store) Consume(queue string, deliver func(stomp.QueuedMessage) bool) (stomp.QueueConsumer, error) {
	key := s.key(queue)
	ctx, cancel := context.WithCancel(context.Background())
	err := s.rdb.XGroupCreateMkStream(ctx, key, s.o.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		cancel()
		return nil, fmt.Errorf("redisqueue: XGROUP CREATE %s: %w", queue, err)
	}
	c := &consumer{
		s: s, key: key, deliver: deliver,
		name:     s.o.Node + "-" + fmt.Sprint(s.next.Add(1)),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		ready:    make(chan struct{}, 1),
		inflight: make(map[string][]byte),
	}
	go c.run()
	return c, nil
}

// consumer reads one queue for this node.
type consumer struct {
	s       *Store
	key     string
	name    string
	deliver func(stomp.QueuedMessage) bool
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	ready   chan struct{}

	mu       sync.Mutex
	inflight map[string][]byte // delivered, not settled: id to payload
	pending  []goredis.XMessage
	closed   bool
}

// Ready implements stomp.QueueConsumer.
func (c *consumer) Ready() {
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// keepFresh refreshes what this node holds every ClaimAfter/4, on its own
// goroutine so that a slow read does not let another node claim it.
func (c *consumer) keepFresh(done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(c.s.o.ClaimAfter / 4)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.refresh()
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *consumer) run() {
	defer close(c.done)
	fresh := make(chan struct{})
	go c.keepFresh(fresh)
	defer func() { <-fresh }()
	claim := time.NewTicker(c.s.o.ClaimAfter / 2)
	defer claim.Stop()
	for c.ctx.Err() == nil {
		select {
		case <-claim.C:
			c.claim()
		default:
		}
		c.mu.Lock()
		var m *goredis.XMessage
		if len(c.pending) > 0 {
			m = &c.pending[0]
		}
		c.mu.Unlock()
		if m == nil {
			c.read()
			continue
		}
		payload := payloadOf(*m)
		c.mu.Lock()
		c.inflight[m.ID] = payload // before delivery: an ACK may come at once
		c.mu.Unlock()
		if c.deliver(stomp.QueuedMessage{ID: m.ID, Payload: payload}) {
			c.mu.Lock()
			c.pending = c.pending[1:]
			c.mu.Unlock()
			continue
		}
		c.mu.Lock()
		delete(c.inflight, m.ID)
		c.mu.Unlock()
		select { // nobody can take it now: wait for a consumer
		case <-c.ready:
		case <-claim.C:
			c.claim()
		case <-c.ctx.Done():
		}
	}
}

func payloadOf(m goredis.XMessage) []byte {
	switch v := m.Values["p"].(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	}
	return nil
}

// read takes the next new entry, waiting up to Block.
func (c *consumer) read() {
	res, err := c.s.rdb.XReadGroup(c.ctx, &goredis.XReadGroupArgs{
		Group: c.s.o.Group, Consumer: c.name, Streams: []string{c.key, ">"}, Count: 1, Block: c.s.o.Block,
	}).Result()
	if err != nil {
		if !errors.Is(err, goredis.Nil) && c.ctx.Err() == nil {
			select { // Redis is unreachable: do not spin
			case <-time.After(c.s.o.Block):
			case <-c.ctx.Done():
			}
		}
		return
	}
	c.mu.Lock()
	for _, st := range res {
		c.pending = append(c.pending, st.Messages...)
	}
	c.mu.Unlock()
}

// claim takes over entries idle for ClaimAfter: their node is gone.
func (c *consumer) claim() {
	msgs, _, err := c.s.rdb.XAutoClaim(c.ctx, &goredis.XAutoClaimArgs{
		Stream: c.key, Group: c.s.o.Group, Consumer: c.name, MinIdle: c.s.o.ClaimAfter, Start: "0-0", Count: 100,
	}).Result()
	if err != nil || len(msgs) == 0 {
		return
	}
	c.mu.Lock()
	c.pending = append(c.pending, msgs...)
	c.mu.Unlock()
}

// refresh resets the idle time of what this node holds, so that no other
// node claims it.
func (c *consumer) refresh() {
	c.mu.Lock()
	ids := make([]string, 0, len(c.inflight)+len(c.pending))
	for id := range c.inflight {
		ids = append(ids, id)
	}
	for _, m := range c.pending {
		ids = append(ids, m.ID)
	}
	c.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	_ = c.s.rdb.XClaimJustID(c.ctx, &goredis.XClaimArgs{Stream: c.key, Group: c.s.o.Group, Consumer: c.name, Messages: ids}).Err()
}

// Ack implements stomp.QueueConsumer.
func (c *consumer) Ack(ctx context.Context, id string) error {
	c.mu.Lock()
	payload, known := c.inflight[id]
	delete(c.inflight, id)
	c.mu.Unlock()
	var deleted *goredis.IntCmd
	_, err := c.s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.XAck(ctx, c.key, c.s.o.Group, id)
		deleted = p.XDel(ctx, c.key, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisqueue: XACK: %w", err)
	}
	if known && deleted.Val() == 1 { // counted once, by the node that deleted it
		c.uncount(ctx, payload)
	}
	return nil
}

// uncount takes an acknowledged message off the byte counts.
func (c *consumer) uncount(ctx context.Context, payload []byte) {
	n := cost(payload)
	_, _ = c.s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.DecrBy(ctx, c.key+":bytes", n)
		p.DecrBy(ctx, c.s.totalKey(), n)
		return nil
	})
}

// Release implements stomp.QueueConsumer.
func (c *consumer) Release(ctx context.Context, id string) error {
	c.mu.Lock()
	payload, ok := c.inflight[id]
	delete(c.inflight, id)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	_, err := c.s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.XAdd(ctx, &goredis.XAddArgs{Stream: c.key, Values: []any{"p", payload}})
		p.XAck(ctx, c.key, c.s.o.Group, id)
		p.XDel(ctx, c.key, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisqueue: release: %w", err)
	}
	return nil
}

// Close implements stomp.QueueConsumer: entries read but not delivered go
// back at once; delivered ones wait for Release, or for another node to
// claim them.
func (c *consumer) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	<-c.done
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	for _, m := range pending {
		c.inflight[m.ID] = payloadOf(m)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, m := range pending {
		errs = append(errs, c.Release(ctx, m.ID))
	}
	return errors.Join(errs...)
}
