package stomp

import (
	"context"
	"fmt"
	"sync"
)

// QueueStore keeps queue messages outside the node, so that every node
// shares the queues: a message put on any node goes to exactly one
// consumer on some node, and one not acknowledged by a consumer that left,
// or by a node that died, goes to another. Package stomp/redisqueue
// implements it on Redis Streams. Without one (Config.QueueStore nil),
// queues live in the node's memory.
type QueueStore interface {
	// Put appends payload to queue.
	Put(ctx context.Context, queue string, payload []byte) error
	// Consume starts handing queue's messages to this node. deliver is
	// called from one goroutine per queue, one message at a time, and
	// reports whether a local consumer took it; when it does not, the
	// store keeps the message for this node and offers it again after
	// QueueConsumer.Ready.
	Consume(queue string, deliver func(QueuedMessage) bool) (QueueConsumer, error)
}

// QueuedMessage is one message a QueueStore hands out.
type QueuedMessage struct {
	// ID names it in the store, for Ack and Release.
	ID string
	// Payload is what Put was given.
	Payload []byte
}

// QueueConsumer is this node's consumption of one queue.
type QueueConsumer interface {
	// Ready says that local consumers may take more messages.
	Ready()
	// Ack removes a delivered message for good (STOMP ACK, or delivery in
	// auto mode).
	Ack(ctx context.Context, id string) error
	// Release gives a delivered message back for any consumer (NACK, or
	// its consumer left without acknowledging it).
	Release(ctx context.Context, id string) error
	// Close stops consuming; messages delivered and not acknowledged stay
	// for Release or, if the node goes, for other nodes to reclaim.
	Close() error
}

// storeQueue is this node's side of one store-backed queue: its local
// consumers, round robin.
type storeQueue struct {
	name string
	b    *broker

	mu       sync.Mutex
	subs     []*subscription
	next     int
	consumer QueueConsumer
	starting bool // Consume is under way
}

// storeSubscribe adds sub to its store-backed queue, starting this node's
// consumption on the first local consumer.
func (b *broker) storeSubscribe(sub *subscription) error {
	b.mu.Lock()
	q, ok := b.storeQueues[sub.key]
	if !ok {
		q = &storeQueue{name: sub.key, b: b}
		b.storeQueues[sub.key] = q
	}
	q.mu.Lock()
	q.subs = append(q.subs, sub)
	start := q.consumer == nil && !q.starting
	q.starting = q.starting || start
	q.mu.Unlock()
	b.mu.Unlock()
	sub.c.mu.Lock()
	sub.sq = q
	sub.c.mu.Unlock()
	if !start {
		q.ready()
		return nil
	}
	cons, err := b.store.Consume(sub.key, q.offer)
	b.mu.Lock()
	q.mu.Lock()
	q.starting = false
	live := b.storeQueues[q.name] == q
	if err == nil && live {
		q.consumer = cons
	}
	if err != nil && live && len(q.subs) <= 1 {
		delete(b.storeQueues, q.name) // the next subscriber tries again
	}
	q.mu.Unlock()
	b.mu.Unlock()
	if err != nil {
		b.storeUnsubscribe(sub)
		return fmt.Errorf("%w: consume %s: %w", errBus, sub.key, err)
	}
	if !live { // every local consumer left meanwhile
		_ = cons.Close()
	}
	return nil
}

func (q *storeQueue) ready() {
	q.mu.Lock()
	c := q.consumer
	q.mu.Unlock()
	if c != nil {
		c.Ready()
	}
}

// offer hands one stored message to a local consumer, round robin.
func (q *storeQueue) offer(m QueuedMessage) bool {
	q.mu.Lock()
	subs := append([]*subscription(nil), q.subs...)
	start := q.next
	q.next++
	cons := q.consumer
	q.mu.Unlock()
	msg := &message{tail: m.Payload, storeID: m.ID}
	for i := range subs {
		s := subs[(start+i)%len(subs)]
		if !s.c.canTake(s, q.b.maxUnacked) {
			continue
		}
		if s.c.deliver(s, msg, true) {
			if s.ack == ackAuto && cons != nil {
				_ = cons.Ack(context.Background(), m.ID)
			}
			return true
		}
	}
	return false
}

// settle acknowledges or releases delivered store messages.
func (q *storeQueue) settle(msgs []*message, release bool) {
	q.mu.Lock()
	cons := q.consumer
	q.mu.Unlock()
	if cons == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), busSubscribeTimeout)
	defer cancel()
	for _, m := range msgs {
		var err error
		if release {
			err = cons.Release(ctx, m.storeID)
		} else {
			err = cons.Ack(ctx, m.storeID)
		}
		if err != nil {
			q.b.logErr("stomp: queue store: settling a message failed; it will be redelivered", "queue", q.name, "err", err)
		}
	}
	cons.Ready()
}

// storeUnsubscribe removes sub; its unacknowledged messages go back to the
// store for any consumer. The last local consumer stops consumption.
func (b *broker) storeUnsubscribe(sub *subscription) {
	sub.c.mu.Lock()
	q := sub.sq
	var back []*message
	for _, d := range sub.unacked {
		if d.msg != nil {
			back = append(back, d.msg)
		}
	}
	sub.unacked = nil
	sub.c.mu.Unlock()
	if q == nil {
		return
	}
	q.settle(back, true)
	b.mu.Lock()
	q.mu.Lock()
	for i, s := range q.subs {
		if s == sub {
			q.subs = append(q.subs[:i:i], q.subs[i+1:]...)
			break
		}
	}
	var stop QueueConsumer
	if len(q.subs) == 0 && b.storeQueues[q.name] == q {
		delete(b.storeQueues, q.name)
		stop, q.consumer = q.consumer, nil
	}
	q.mu.Unlock()
	b.mu.Unlock()
	if stop != nil {
		_ = stop.Close()
	}
}
