package stomp

import (
	"errors"
	"fmt"
	"sync"
)

// ErrQueueFull: a /queue holds its limit of messages waiting for a
// consumer; the SEND was refused.
var ErrQueueFull = errors.New("stomp: queue full (no consumer is taking its messages)")

// What holding costs besides the message bytes, counted against
// Config.MaxQueuedBytes: a held message's struct, allocation rounding and
// backlog slot; a queue's struct, name and map entry. TestQueueBoundCountsRealCost
// measures them.
const (
	heldMessageOverhead = 96
	queueOverhead       = 160
)

// heldCost is what holding m costs.
func heldCost(m *message) int64 { return int64(cap(m.tail)) + heldMessageOverhead }

// queue is one /queue/... destination: each message goes to exactly one
// consumer, round robin; messages wait in the backlog while no consumer
// can take one (none subscribed, or all at their unacked bound).
//
// Lock order: broker.mu, then queue.mu, then conn.mu. Deliveries happen
// under queue.mu so that one queue's messages reach a consumer in order;
// a delivery only queues bytes for the client and never blocks.
type queue struct {
	name string

	mu      sync.Mutex // guards the fields below (see lockQueue)
	subs    []*subscription
	next    int // round robin position
	backlog []*message
	gone    bool // removed from broker.queues: look it up again
}

// lockQueue returns the live queue named key, created if needed, locked.
func (b *broker) lockQueue(key string) *queue {
	for {
		b.mu.Lock()
		q, ok := b.queues[key]
		if !ok {
			q = &queue{name: key}
			b.queues[key] = q
			b.queued.Add(int64(len(key)) + queueOverhead)
		}
		b.mu.Unlock()
		q.mu.Lock()
		if !q.gone {
			return q
		}
		q.mu.Unlock()
	}
}

// put queues m and hands out what consumers can take.
func (b *broker) put(key string, m *message) error {
	q := b.lockQueue(key)
	if len(q.backlog) >= b.maxBacklog || b.queued.Load()+heldCost(m) > int64(b.maxBytes) {
		empty := len(q.subs) == 0 && len(q.backlog) == 0
		q.mu.Unlock()
		if empty { // do not keep a queue made only to refuse this SEND
			b.dropIfEmpty(q)
		}
		return fmt.Errorf("%w: %s", ErrQueueFull, key)
	}
	q.backlog = append(q.backlog, m)
	b.queued.Add(heldCost(m))
	b.dispatch(q)
	q.mu.Unlock()
	return nil
}

// addConsumer adds sub to its queue and hands it what is waiting.
func (b *broker) addConsumer(sub *subscription) {
	q := b.lockQueue(sub.key)
	defer q.mu.Unlock()
	sub.c.mu.Lock()
	sub.q = q
	sub.c.mu.Unlock()
	q.subs = append(q.subs, sub)
	b.dispatch(q)
}

// removeConsumer takes sub out of q; its unacknowledged messages go back to
// the front of the queue, in their order, for the other consumers.
func (b *broker) removeConsumer(q *queue, sub *subscription) {
	q.mu.Lock()
	for i, s := range q.subs {
		if s == sub {
			q.subs = append(q.subs[:i], q.subs[i+1:]...)
			if q.next > i {
				q.next--
			}
			break
		}
	}
	sub.c.mu.Lock()
	var back []*message
	for _, d := range sub.unacked {
		if d.msg != nil { // replies were never queued
			back = append(back, d.msg)
		}
	}
	sub.unacked = nil
	sub.c.mu.Unlock()
	b.requeueLocked(q, back)
	empty := len(q.subs) == 0 && len(q.backlog) == 0
	q.mu.Unlock()
	if empty {
		b.dropIfEmpty(q)
	}
}

// requeue puts messages back at the front of q, in order, and hands them
// out again (after a NACK).
func (b *broker) requeue(q *queue, msgs []*message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b.requeueLocked(q, msgs)
}

// more tells q that a consumer acknowledged messages and may take more.
func (b *broker) more(q *queue) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b.dispatch(q)
}

func (b *broker) requeueLocked(q *queue, msgs []*message) {
	if len(msgs) == 0 {
		return
	}
	for _, m := range msgs {
		b.queued.Add(heldCost(m))
	}
	q.backlog = append(msgs[:len(msgs):len(msgs)], q.backlog...)
	b.dispatch(q)
}

// dispatch hands backlog messages to consumers round robin, skipping those
// at their unacked bound and dead ones. q.mu is held.
func (b *broker) dispatch(q *queue) {
	for len(q.backlog) > 0 && len(q.subs) > 0 {
		var to *subscription
		for range len(q.subs) {
			s := q.subs[q.next%len(q.subs)]
			q.next = (q.next + 1) % len(q.subs)
			if s.c.canTake(s, b.maxUnacked) {
				to = s
				break
			}
		}
		if to == nil {
			return
		}
		m := q.backlog[0]
		q.backlog[0] = nil
		q.backlog = q.backlog[1:]
		b.queued.Add(-heldCost(m))
		if len(q.backlog) == 0 {
			q.backlog = nil
		}
		if !to.c.deliver(to, m, true) {
			// Its connection is gone: the message goes back to the front,
			// the consumer is skipped from now on (canTake is false).
			q.backlog = append([]*message{m}, q.backlog...)
			b.queued.Add(heldCost(m))
		}
	}
}

// dropIfEmpty forgets a queue that has neither consumers nor messages, so
// that a client naming many queues does not leave them all behind.
func (b *broker) dropIfEmpty(q *queue) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.subs) == 0 && len(q.backlog) == 0 && !q.gone && b.queues[q.name] == q {
		q.gone = true
		delete(b.queues, q.name)
		b.queued.Add(-(int64(len(q.name)) + queueOverhead))
	}
}
