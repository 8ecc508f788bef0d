package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/pubsub"
)

// Defaults of BusOptions.
const (
	DefaultHealthCheck = 3 * time.Second
	DefaultBusBuffer   = 4096
)

// BusOptions configures a Bus.
type BusOptions struct {
	// Prefix namespaces the Redis channels. Empty means DefaultPrefix.
	Prefix string
	// HealthCheck is how often the subscription connection is probed with
	// PING while no message arrives; a dead connection is found within
	// about twice this and replaced, and every topic subscribed again.
	// Zero means DefaultHealthCheck.
	HealthCheck time.Duration
	// Buffer is how many received payloads wait for the delivery goroutine.
	// Handlers must not block (see pubsub.Handler); this only absorbs
	// bursts. Zero means DefaultBusBuffer.
	Buffer int
	// Logger receives subscription errors. Nil means slog.Default().
	Logger *slog.Logger
}

// Bus is a pubsub.Bus on Redis PUBLISH/SUBSCRIBE. Each node holds one
// subscription connection for all its topics and fans each payload out to
// its local handlers, so a payload crosses the network once per node.
//
// What it guarantees is pubsub.Bus's contract: at-most-once delivery, in
// publish order per publisher. A node that loses its subscription
// connection (Redis restarted, the network cut, or Redis dropping a
// subscriber past client-output-buffer-limit) misses what is published
// until it has subscribed again, which it does by itself.
type Bus struct {
	rdb    goredis.UniversalClient
	ps     *goredis.PubSub // classic pub/sub; nil on a Redis Cluster
	sh     *sharded        // sharded pub/sub on a Redis Cluster; else nil
	prefix string
	log    *slog.Logger

	mu     sync.Mutex
	subs   map[string]*topicSubs
	nextID uint64
	closed bool

	ops  chan busOp // subscription changes, applied in order
	done chan struct{}
	wg   sync.WaitGroup
}

// topicSubs is one topic's local handlers. ready is closed once the node's
// Redis subscription for it is in place (err nil) or failed.
type topicSubs struct {
	hs    map[uint64]pubsub.Handler
	ready chan struct{}
	err   error
}

// busOp asks the manager goroutine to bring a topic's Redis subscription in
// line with its local handlers; for a subscription, st is the state whose
// ready channel it closes.
type busOp struct {
	ctx   context.Context
	topic string
	st    *topicSubs
}

var _ pubsub.Counter = (*Bus)(nil)

// NewBus returns a Bus on rdb and starts its goroutines; Close stops them.
func NewBus(rdb goredis.UniversalClient, opts BusOptions) *Bus {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.HealthCheck <= 0 {
		opts.HealthCheck = DefaultHealthCheck
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBusBuffer
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b := &Bus{
		rdb:    rdb,
		prefix: opts.Prefix + "topic:",
		log:    opts.Logger,
		subs:   make(map[string]*topicSubs),
		ops:    make(chan busOp, 64),
		done:   make(chan struct{}),
	}
	chOpts := []goredis.ChannelOption{
		goredis.WithChannelSize(opts.Buffer),
		goredis.WithChannelHealthCheckInterval(opts.HealthCheck),
		// A full buffer means handlers block, against their contract: drop
		// rather than stall the connection until Redis cuts it.
		goredis.WithChannelSendTimeout(time.Second),
	}
	var msgs <-chan *goredis.Message
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		b.sh = newSharded(cc, b, opts, chOpts)
		msgs = b.sh.msgs
	} else {
		b.ps = rdb.Subscribe(context.Background())
		msgs = b.ps.Channel(chOpts...)
	}
	b.wg.Add(2)
	go b.deliver(msgs)
	go b.manage()
	return b
}

// channel returns topic's Redis channel: the prefix and the topic, and on a
// Redis Cluster a hash tag between them (see busTag).
func (b *Bus) channel(topic string) string {
	if b.sh != nil {
		return b.prefix + busTag(topic) + topic
	}
	return b.prefix + topic
}

// topic returns the topic of a Redis channel, or false when the channel is
// not one of the bus's.
func (b *Bus) topic(channel string) (string, bool) {
	rest, ok := strings.CutPrefix(channel, b.prefix)
	if !ok || b.sh == nil {
		return rest, ok
	}
	if !strings.HasPrefix(rest, "{") {
		return "", false
	}
	i := strings.IndexByte(rest, '}')
	if i < 0 {
		return "", false
	}
	return rest[i+1:], true
}

// Publish implements pubsub.Bus. It fails when Redis cannot be reached
// before ctx ends; the payload is then not sent.
func (b *Bus) Publish(ctx context.Context, topic string, payload []byte) error {
	_, err := b.PublishCount(ctx, topic, payload)
	return err
}

// PublishCount implements pubsub.Counter: Redis answers how many
// subscription connections (nodes) the payload reached. On a Redis Cluster
// (SPUBLISH) it counts those of the shard that owns the topic's channel,
// where every node subscribes to it.
func (b *Bus) PublishCount(ctx context.Context, topic string, payload []byte) (int, error) {
	if b.isClosed() {
		return 0, pubsub.ErrClosed
	}
	var n int64
	var err error
	if b.sh != nil {
		n, err = b.rdb.SPublish(ctx, b.channel(topic), payload).Result()
	} else {
		n, err = b.rdb.Publish(ctx, b.channel(topic), payload).Result()
	}
	if err != nil {
		if b.sh != nil {
			b.sh.cc.ReloadState(ctx) // a master may have failed over
		}
		return 0, fmt.Errorf("cluster: publish on %q: %w (is Redis reachable?)", topic, err)
	}
	return int(n), nil
}

// Subscribe implements pubsub.Bus. It returns once the node's Redis
// subscription for topic is in place: the first local handler of a topic
// subscribes the node and every other waits for that (bounded by ctx);
// later ones only join the local fan-out.
func (b *Bus) Subscribe(ctx context.Context, topic string, h pubsub.Handler) (func(), error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, pubsub.ErrClosed
	}
	st := b.subs[topic]
	first := st == nil
	if first {
		st = &topicSubs{hs: make(map[uint64]pubsub.Handler), ready: make(chan struct{})}
		b.subs[topic] = st
	}
	b.nextID++
	id := b.nextID
	st.hs[id] = h
	b.mu.Unlock()

	cancel := sync.OnceFunc(func() { b.remove(topic, id) })
	if first {
		select {
		case b.ops <- busOp{ctx: ctx, topic: topic, st: st}:
		case <-b.done:
			cancel()
			return nil, pubsub.ErrClosed
		case <-ctx.Done():
			b.fail(topic, st, ctx.Err())
			cancel()
			return nil, ctx.Err()
		}
	}
	select {
	case <-st.ready:
		if st.err != nil {
			cancel()
			return nil, st.err
		}
		return cancel, nil
	case <-b.done:
		cancel()
		return nil, pubsub.ErrClosed
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
}

// fail ends st's wait with err and forgets it, so that the next Subscribe
// of the topic tries again.
func (b *Bus) fail(topic string, st *topicSubs, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-st.ready:
		return
	default:
	}
	st.err = err
	close(st.ready)
	if b.subs[topic] == st {
		delete(b.subs, topic)
	}
}

// remove drops one handler; the last one of a topic unsubscribes the node,
// on the manager goroutine so that cancel does not block.
func (b *Bus) remove(topic string, id uint64) {
	b.mu.Lock()
	st := b.subs[topic]
	last := false
	if st != nil {
		if _, ok := st.hs[id]; ok {
			delete(st.hs, id)
			last = len(st.hs) == 0
			if last {
				delete(b.subs, topic)
			}
		}
	}
	closed := b.closed
	b.mu.Unlock()
	if !last || closed {
		return
	}
	op := busOp{ctx: context.Background(), topic: topic}
	select {
	case b.ops <- op:
	case <-b.done:
	default:
		// The queue is full: hand it over without blocking the caller.
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			select {
			case b.ops <- op:
			case <-b.done:
			}
		}()
	}
}

// manage applies subscription changes one at a time, in order, each to the
// state the topic has when it runs: a cancel followed at once by a new
// Subscribe never leaves the topic unsubscribed.
func (b *Bus) manage() {
	defer b.wg.Done()
	var tick <-chan time.Time
	if b.sh != nil {
		defer b.sh.close()
		t := time.NewTicker(b.sh.every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-b.done:
			return
		case <-tick:
			b.sh.reconcile()
		case op := <-b.ops:
			b.mu.Lock()
			want := b.subs[op.topic] != nil
			b.mu.Unlock()
			if !want {
				if err := b.unsubscribe(op.ctx, b.channel(op.topic)); err != nil && !b.isClosed() {
					b.log.Warn("sockline cluster: unsubscribe failed; the subscription ends with the next reconnect", "topic", op.topic, "err", err)
				}
				if op.st != nil {
					b.fail(op.topic, op.st, pubsub.ErrClosed)
				}
				continue
			}
			err := b.subscribe(op.ctx, b.channel(op.topic))
			if op.st == nil {
				continue
			}
			if err != nil {
				b.fail(op.topic, op.st, fmt.Errorf("cluster: subscribe to %q: %w (is Redis reachable?)", op.topic, err))
				continue
			}
			b.mu.Lock()
			select {
			case <-op.st.ready:
			default:
				close(op.st.ready)
			}
			b.mu.Unlock()
		}
	}
}

// subscribe and unsubscribe change the node's Redis subscriptions; on the
// manager goroutine only.
func (b *Bus) subscribe(ctx context.Context, channel string) error {
	if b.sh != nil {
		return b.sh.subscribe(ctx, channel)
	}
	return b.ps.Subscribe(ctx, channel)
}

func (b *Bus) unsubscribe(ctx context.Context, channel string) error {
	if b.sh != nil {
		return b.sh.unsubscribe(ctx, channel)
	}
	return b.ps.Unsubscribe(ctx, channel)
}

// deliver fans out every received payload to the topic's local handlers.
func (b *Bus) deliver(msgs <-chan *goredis.Message) {
	defer b.wg.Done()
	var hs []pubsub.Handler
	for m := range msgs {
		topic, ok := b.topic(m.Channel)
		if !ok {
			continue
		}
		payload := []byte(m.Payload)
		hs = hs[:0]
		b.mu.Lock()
		if st := b.subs[topic]; st != nil {
			for _, h := range st.hs {
				hs = append(hs, h)
			}
		}
		b.mu.Unlock()
		for _, h := range hs {
			h(topic, payload)
		}
	}
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Close unsubscribes the node from every topic and stops the bus's
// goroutines. It does not close rdb, which the caller owns.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	clear(b.subs)
	b.mu.Unlock()
	close(b.done)
	var err error
	if b.ps != nil {
		err = b.ps.Close() // ends the message channel, and so deliver
	} // else the manager closes the shards' subscriptions, and so deliver's channel
	b.wg.Wait()
	if err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("cluster: close the subscription connection: %w", err)
	}
	return nil
}
