package nats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/sockline/sockline/pubsub"
)

// Defaults of BusOptions.
const (
	DefaultPrefix    = "sockline"
	DefaultBusBuffer = 4096
)

// defaultWait bounds a flush whose context has no deadline (nats.go needs
// one).
const defaultWait = 10 * time.Second

// BusOptions configures a Bus.
type BusOptions struct {
	// Prefix is the first tokens of every subject: topics are published
	// on Prefix.t.<topic>. A valid subject without wildcards. Empty means
	// DefaultPrefix.
	Prefix string
	// Buffer is how many received payloads wait for the delivery goroutine.
	// Handlers must not block (see pubsub.Handler); this only absorbs
	// bursts. Past it the client drops payloads (a slow consumer, which
	// nats.go reports to the connection's error handler). Zero means
	// DefaultBusBuffer.
	Buffer int
}

// Bus is a pubsub.Bus on core NATS subjects. Each node subscribes once per
// topic on its connection and fans each payload out to its local handlers,
// so a payload crosses the network once per node.
//
// It gives pubsub.Bus's contract: at-most-once delivery, in publish order
// per publisher. Publish returns once the server has the payload (a flush,
// one round trip), as a Redis PUBLISH does. A node that loses its
// connection misses what is published until nats.go has reconnected, which
// subscribes every topic again by itself.
type Bus struct {
	nc       *natsgo.Conn
	prefix   string
	inbox    string // this bus's reply subjects for PublishCount: inbox.N
	msgs     chan *natsgo.Msg
	replies  chan *natsgo.Msg
	replySub *natsgo.Subscription

	mu      sync.Mutex
	subs    map[string]*topicSubs // by subject
	waiting map[string]bool       // PublishCount calls waiting for a flush, by reply subject: whether "no responders" came
	nextID  uint64
	closed  bool

	nextReply atomic.Uint64
	id        string              // this bus's id in the parts of a large payload
	nextMsg   atomic.Uint64       // sequence number of a large payload
	partials  map[string]*partial // large payloads being put together; the delivery goroutine's
	done      chan struct{}
	wg        sync.WaitGroup
}

// topicSubs is one topic's local handlers and the node's subscription.
type topicSubs struct {
	topic string
	sub   *natsgo.Subscription
	hs    map[uint64]pubsub.Handler
}

var _ pubsub.Counter = (*Bus)(nil)

// NewBus returns a Bus on nc and starts its delivery goroutine; Close
// stops it. nc should reconnect for ever (Connect's connections do).
func NewBus(nc *natsgo.Conn, opts BusOptions) (*Bus, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !validSubject(opts.Prefix) {
		return nil, fmt.Errorf("cluster: BusOptions.Prefix %q is not a NATS subject: give dot-separated tokens without spaces, * or >", opts.Prefix)
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBusBuffer
	}
	b := &Bus{
		nc:       nc,
		prefix:   opts.Prefix + ".t.",
		inbox:    nc.NewInbox() + ".",
		msgs:     make(chan *natsgo.Msg, opts.Buffer),
		replies:  make(chan *natsgo.Msg, 1024),
		subs:     make(map[string]*topicSubs),
		waiting:  make(map[string]bool),
		id:       randomID(),
		partials: make(map[string]*partial),
		done:     make(chan struct{}),
	}
	sub, err := nc.ChanSubscribe(b.inbox+"*", b.replies)
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe to the bus's reply subjects: %w", err)
	}
	b.replySub = sub
	b.wg.Add(1)
	go b.deliver()
	return b, nil
}

// validSubject reports whether s is a subject of non-empty tokens without
// wildcards or white space.
func validSubject(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '*' || c == '>' || c <= ' ' || c == 0x7f:
			return false
		case c == '.' && s[i+1] == '.':
			return false
		}
	}
	return true
}

func (b *Bus) subject(topic string) string { return b.prefix + token(topic) }

// Publish implements pubsub.Bus. It fails when the connection is down, or
// the server does not confirm before ctx ends; the payload is then not
// known to be sent.
func (b *Bus) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := b.usable(); err != nil {
		return err
	}
	if err := b.send(b.subject(topic), payload, ""); err != nil {
		return fmt.Errorf("cluster: publish on %q: %w (is NATS reachable?)", topic, err)
	}
	if err := flush(ctx, b.nc); err != nil {
		return fmt.Errorf("cluster: publish on %q: %w (is NATS reachable?)", topic, err)
	}
	return nil
}

// PublishCount implements pubsub.Counter. NATS does not count receivers;
// the payload goes out with a reply subject, and the server answers a
// message nobody subscribes to with a "no responders" status (503) before
// the answer to the flush that follows it. So it reports 0 when no node
// subscribes to topic and 1 when some do, not how many. (Within one
// server or one cluster of servers; across a super-cluster's gateways a
// topic without interest may be reported as 1.)
func (b *Bus) PublishCount(ctx context.Context, topic string, payload []byte) (int, error) {
	if err := b.usable(); err != nil {
		return 0, err
	}
	reply := b.inbox + strconv.FormatUint(b.nextReply.Add(1), 10)
	b.mu.Lock()
	b.waiting[reply] = false
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiting, reply)
		b.mu.Unlock()
	}()
	if err := b.send(b.subject(topic), payload, reply); err != nil {
		return 0, fmt.Errorf("cluster: publish on %q: %w (is NATS reachable?)", topic, err)
	}
	if err := flush(ctx, b.nc); err != nil {
		return 0, fmt.Errorf("cluster: publish on %q: %w (is NATS reachable?)", topic, err)
	}
	// The client's reader put any 503 in b.replies before it read the
	// flush's answer: take what is there.
	b.mu.Lock()
	defer b.mu.Unlock()
	for drained := false; !drained; {
		select {
		case m := <-b.replies:
			if _, ok := b.waiting[m.Subject]; ok && len(m.Data) == 0 && m.Header.Get("Status") == "503" {
				b.waiting[m.Subject] = true
			}
		default:
			drained = true
		}
	}
	if b.waiting[reply] {
		return 0, nil
	}
	return 1, nil
}

// flush waits until the server has processed everything sent so far.
func flush(ctx context.Context, nc *natsgo.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultWait)
		defer cancel()
	}
	return nc.FlushWithContext(ctx)
}

// usable returns an error when the bus is closed or its connection is
// down: what would be published is not sent now.
func (b *Bus) usable() error {
	if b.isClosed() {
		return pubsub.ErrClosed
	}
	if !b.nc.IsConnected() {
		return fmt.Errorf("cluster: NATS connection %s: %w", b.nc.Status(), errNotConnected)
	}
	return nil
}

// errTooLarge reports a payload of more parts than a node puts together.
var errTooLarge = errors.New("payload too large for the bus: more than 1024 times the server's max_payload")

// randomID returns 16 random hex digits.
func randomID() string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// errNotConnected reports an operation refused while the connection is
// down (nats.go reconnects by itself).
var errNotConnected = errors.New("not connected to NATS; it reconnects by itself, retry shortly")

// Subscribe implements pubsub.Bus. It returns once the server has the
// node's subscription for topic (a flush), so that what is published after
// it returns reaches h.
func (b *Bus) Subscribe(ctx context.Context, topic string, h pubsub.Handler) (func(), error) {
	if err := b.usable(); err != nil {
		return nil, err
	}
	subj := b.subject(topic)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, pubsub.ErrClosed
	}
	st := b.subs[subj]
	if st == nil {
		// Under b.mu so that SUB and UNSUB of one subject go out in the
		// order of Subscribe and cancel; nats.go only buffers them here.
		sub, err := b.nc.ChanSubscribe(subj, b.msgs)
		if err != nil {
			b.mu.Unlock()
			return nil, fmt.Errorf("cluster: subscribe to %q: %w (is NATS reachable?)", topic, err)
		}
		st = &topicSubs{topic: topic, sub: sub, hs: make(map[uint64]pubsub.Handler)}
		b.subs[subj] = st
	}
	b.nextID++
	id := b.nextID
	st.hs[id] = h
	b.mu.Unlock()

	cancel := sync.OnceFunc(func() { b.remove(subj, id) })
	if err := flush(ctx, b.nc); err != nil {
		cancel()
		return nil, fmt.Errorf("cluster: subscribe to %q: %w (is NATS reachable?)", topic, err)
	}
	return cancel, nil
}

// remove drops one handler; the last one of a topic unsubscribes the node.
func (b *Bus) remove(subj string, id uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.subs[subj]
	if st == nil {
		return
	}
	delete(st.hs, id)
	if len(st.hs) == 0 {
		delete(b.subs, subj)
		_ = st.sub.Unsubscribe() // buffered; an error means the connection closed, which ends it too
	}
}

// deliver fans out every received payload to its topic's local handlers.
func (b *Bus) deliver() {
	defer b.wg.Done()
	var hs []pubsub.Handler
	for {
		var m *natsgo.Msg
		select {
		case <-b.done:
			return
		case m = <-b.msgs:
		}
		hs = hs[:0]
		topic := ""
		b.mu.Lock()
		if st := b.subs[m.Subject]; st != nil && st.sub == m.Sub {
			topic = st.topic
			for _, h := range st.hs {
				hs = append(hs, h)
			}
		}
		b.mu.Unlock()
		if len(hs) == 0 {
			continue
		}
		payload := b.assemble(m.Subject, m)
		if payload == nil {
			continue
		}
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

// Close unsubscribes the node from every topic and stops the delivery
// goroutine. It does not close the connection, which the caller owns.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, st := range b.subs {
		_ = st.sub.Unsubscribe()
	}
	clear(b.subs)
	_ = b.replySub.Unsubscribe()
	b.mu.Unlock()
	close(b.done)
	b.wg.Wait()
	return nil
}
