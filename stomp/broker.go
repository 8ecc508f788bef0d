package stomp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/pubsub"
)

// message is one message on its way to subscribers, encoded once: tail is
// its header lines (not those that differ per delivery: destination,
// subscription, message-id, ack), the blank line, the body and the NUL. Each
// delivery prefixes the per-delivery lines. On the bus the payload is tail.
type message struct {
	tail    []byte
	storeID string                   // its id in Config.QueueStore, for one from there
	dest    string                   // the topic it was sent to, for pattern subscriptions
	pos     history.Position         // its position in its topic's history; zero without
	alt     atomic.Pointer[altTails] // made on first need by a 1.0 or 1.1 client
}

// altTails are a message's tail written for STOMP 1.0 and 1.1 clients,
// whose header escaping differs.
type altTails struct{ v10, v11 []byte }

// tailFor returns the tail written for a client of version.
func (m *message) tailFor(version string) []byte {
	if version != "1.0" && version != "1.1" {
		return m.tail
	}
	a := m.alt.Load()
	if a == nil {
		a = &altTails{v10: m.tail, v11: m.tail}
		if hdr, _, ok := bytes.Cut(m.tail, []byte("\n\n")); ok && bytes.IndexByte(hdr, '\\') >= 0 {
			var d Decoder
			d.Feed(append([]byte(CmdMessage+"\n"), m.tail...))
			if f, err := d.Next(); err == nil && f != nil {
				if b, err := AppendVersion(nil, f, "1.0"); err == nil {
					a.v10 = b[len(CmdMessage)+1:]
				}
				if b, err := AppendVersion(nil, f, "1.1"); err == nil {
					a.v11 = b[len(CmdMessage)+1:]
				}
			}
		}
		m.alt.Store(a)
	}
	if version == "1.0" {
		return a.v10
	}
	return a.v11
}

// perDelivery are the SEND headers a MESSAGE does not copy: the server sets
// the first four per delivery, and the rest concern the SEND itself.
var perDelivery = map[string]bool{
	HdrDestination: true, HdrSubscription: true, HdrMessageID: true, HdrAck: true,
	HdrReceipt: true, HdrTransaction: true, HdrContentLength: true,
}

func newMessage(h Header, body []byte) *message {
	kept := make(Header, 0, len(h))
	for _, f := range h {
		if !perDelivery[f.Key] && f.Key != "" {
			kept = append(kept, f)
		}
	}
	b, err := Append(nil, &Frame{Command: CmdMessage, Header: kept, Body: body})
	if err != nil { // only for an empty header name, dropped above
		panic(err)
	}
	return &message{tail: b[len(CmdMessage)+1:]}
}

// ackMode is a subscription's ack header.
type ackMode int

const (
	ackAuto ackMode = iota
	ackClient
	ackClientIndividual
)

func parseAck(v string) (ackMode, bool) {
	switch v {
	case "", "auto":
		return ackAuto, true
	case "client":
		return ackClient, true
	case "client-individual":
		return ackClientIndividual, true
	}
	return 0, false
}

// subscription is one SUBSCRIBE of one connection. Its unacked list is
// guarded by conn.mu.
type subscription struct {
	c    *conn
	id   string // the client's id header
	dest string // as subscribed: the MESSAGE destination header
	key  string // broker key: the topic, queue or /user/{name}/... ; "" for a local-only one
	ack  ackMode

	relayed bool // carried by the broker relay: its messages come from there
	// confirmed is closed when the broker acknowledged a relayed SUBSCRIBE.
	confirmed chan struct{}
	pat       *pattern // a pattern subscription (Config.PatternSubscriptions)
	// cur joins the replay and the live messages of a subscription with
	// an x-stream-offset; set before it joins its fan-out.
	cur *history.Cursor

	recovered string // x-stream-recovered for the next MESSAGE; guarded by c.mu

	// guarded by c.mu
	unacked []delivery
	dead    bool // unsubscribed, or its connection failed
	q       *queue
	sq      *storeQueue
	f       *fanout
}

// delivery is one message given in a client ack mode, until acknowledged.
type delivery struct {
	id  uint64
	msg *message // kept for queue redelivery
}

// broker holds the node's subscriptions: fan-out destinations (topics and
// user destinations), each with one bus subscription shared by the local
// subscribers, and queues, each with its consumers and backlog.
type broker struct {
	bus        pubsub.Bus
	maxUnacked int
	maxBacklog int // messages per queue
	maxBytes   int // bytes waiting in all queues together
	queued     atomic.Int64
	isQueue    func(key string) bool // a point-to-point destination
	isTopic    func(key string) bool // a broadcast destination
	allTopics  bool                  // every topic on one bus channel (Config.PatternSubscriptions)

	store     QueueStore    // nil: queues in memory
	hist      history.Store // nil: no topic keeps history
	histRules []history.Rule
	logErr    func(msg string, args ...any)

	mu          sync.Mutex
	fanouts     map[string]*fanout
	queues      map[string]*queue
	storeQueues map[string]*storeQueue
}

type fanout struct {
	key    string
	subs   []*subscription // copy on write, under broker.mu
	ready  chan struct{}   // closed once the bus subscription is made (or failed)
	err    error           // set before ready closes
	cancel func()
}

func newBroker(bus pubsub.Bus, isQueue func(string) bool, maxUnacked, maxBacklog, maxBytes int) *broker {
	return &broker{
		isQueue:     isQueue,
		bus:         bus,
		maxUnacked:  maxUnacked,
		maxBacklog:  maxBacklog,
		maxBytes:    maxBytes,
		fanouts:     make(map[string]*fanout),
		storeQueues: make(map[string]*storeQueue),
		queues:      make(map[string]*queue),
	}
}

// allTopicsChannel is the one bus channel of every topic message with
// Config.PatternSubscriptions: each payload is the destination, a NUL and
// the message tail.
const allTopicsChannel = "stomp:topics"

// busSubscribeTimeout bounds the bus subscription a fan-out makes for its
// subscribers.
const busSubscribeTimeout = 30 * time.Second

// errBus wraps what the bus returns, for the AppError a client's frame
// then gets.
var errBus = errors.New("stomp: the message bus failed")

// send routes a message to a broker key.
func (b *broker) send(ctx context.Context, key string, m *message) error {
	if b.isQueue(key) && b.store != nil {
		if err := b.store.Put(ctx, key, m.tail); err != nil {
			return fmt.Errorf("%w: queue %s: %w", errBus, key, err)
		}
		return nil
	}
	if b.isQueue(key) {
		return b.put(key, m)
	}
	if bounds, ok := b.historyBounds(key); ok {
		// the store publishes it, framed with its position, on the bus
		if _, err := b.hist.Publish(ctx, key, m.tail, bounds); err != nil {
			return fmt.Errorf("%w: publish to %s: %w", errBus, key, err)
		}
		return nil
	}
	payload := m.tail
	if b.allTopics && b.isTopic(key) {
		payload = append(append([]byte(key), 0), m.tail...)
		key = allTopicsChannel
	}
	if err := b.bus.Publish(ctx, key, payload); err != nil {
		return fmt.Errorf("%w: publish to %s: %w", errBus, key, err)
	}
	return nil
}

// subscribe registers sub with its destination; on return messages sent to
// it reach sub.
func (b *broker) subscribe(ctx context.Context, sub *subscription) error {
	if sub.key == "" {
		return nil
	}
	if b.isQueue(sub.key) && b.store != nil {
		return b.storeSubscribe(sub)
	}
	if b.isQueue(sub.key) {
		b.addConsumer(sub)
		return nil
	}
	key := sub.key
	if b.allTopics && b.isTopic(key) {
		key = allTopicsChannel
	}
	b.mu.Lock()
	f, ok := b.fanouts[key]
	if !ok {
		f = &fanout{key: key, ready: make(chan struct{})}
		b.fanouts[key] = f
	}
	f.subs = append(f.subs[:len(f.subs):len(f.subs)], sub)
	b.mu.Unlock()
	sub.c.mu.Lock()
	sub.f = f
	sub.c.mu.Unlock()
	if !ok {
		// The first local subscriber starts the bus subscription; for a
		// networked bus it is a round trip. It runs on its own, not with
		// that subscriber's context or goroutine: every subscriber waits
		// for it with its own context, and one leaving must not fail or
		// hold up the others.
		go b.subscribeBus(context.WithoutCancel(ctx), f)
	}
	select {
	case <-f.ready:
	case <-ctx.Done():
		b.unsubscribe(sub)
		return ctx.Err()
	}
	if f.err != nil {
		b.unsubscribe(sub)
		return fmt.Errorf("%w: subscribe to %s: %w", errBus, f.key, f.err)
	}
	return nil
}

// subscribeBus makes f's bus subscription and closes f.ready.
func (b *broker) subscribeBus(ctx context.Context, f *fanout) {
	ctx, cancel := context.WithTimeout(ctx, busSubscribeTimeout)
	stop, err := b.bus.Subscribe(ctx, f.key, func(_ string, payload []byte) { b.fanOut(f, payload) })
	cancel()
	f.cancel, f.err = stop, err
	if err != nil { // the next subscriber tries again
		b.mu.Lock()
		if b.fanouts[f.key] == f {
			delete(b.fanouts, f.key)
		}
		b.mu.Unlock()
	}
	close(f.ready)
}

// fanOut runs on the bus's delivery goroutine: one message to every local
// subscriber, in the bus's order.
func (b *broker) fanOut(f *fanout, payload []byte) {
	b.mu.Lock()
	subs := f.subs
	b.mu.Unlock()
	if f.key != allTopicsChannel {
		m := &message{tail: payload}
		if _, ok := b.historyBounds(f.key); ok {
			if e, err := history.ParseFrame(payload); err == nil {
				m = &message{tail: e.Payload, pos: e.Position}
			}
		}
		for _, s := range subs {
			if s.cur != nil && m.pos.Epoch != "" {
				s.cur.Live(history.Entry{Position: m.pos, Payload: m.tail})
			} else if s.cur == nil {
				s.c.deliver(s, m, false)
			}
		}
		return
	}
	dest, tail, ok := bytes.Cut(payload, []byte{0})
	if !ok {
		return
	}
	m := &message{tail: tail, dest: string(dest)}
	for _, s := range subs {
		if s.pat != nil {
			if _, ok := s.pat.match(m.dest); !ok {
				continue
			}
		} else if s.key != m.dest {
			continue
		}
		s.c.deliver(s, m, false)
	}
}

// unsubscribe removes sub; a queue subscription's unacknowledged messages
// go back to the queue for another consumer.
func (b *broker) unsubscribe(sub *subscription) {
	sub.c.mu.Lock()
	sub.dead = true
	q, f, sq := sub.q, sub.f, sub.sq
	sub.c.mu.Unlock()
	if sq != nil {
		b.storeUnsubscribe(sub)
	}
	if q != nil {
		b.removeConsumer(q, sub)
	}
	if f == nil {
		return
	}
	var cancel func()
	b.mu.Lock()
	for i, s := range f.subs {
		if s == sub {
			f.subs = append(f.subs[:i:i], f.subs[i+1:]...)
			break
		}
	}
	if len(f.subs) == 0 && b.fanouts[f.key] == f {
		delete(b.fanouts, f.key)
		cancel = func() {
			<-f.ready
			if f.cancel != nil {
				f.cancel()
			}
		}
	}
	b.mu.Unlock()
	if cancel == nil {
		return
	}
	select {
	case <-f.ready:
		cancel()
	default:
		// The bus subscription is under way (bounded by
		// busSubscribeTimeout): cancel it once made, without holding up
		// this connection's goroutine.
		go cancel()
	}
}
