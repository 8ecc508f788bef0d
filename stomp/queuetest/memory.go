package queuetest

import (
	"context"
	"strconv"
	"sync"

	"github.com/sockline/sockline/stomp"
)

// Memory is a stomp.QueueStore in this process's memory, shared by every
// Server given it: the reference implementation of the suite, and a way to
// test several nodes' queues without a backend. Unbounded: for tests.
type Memory struct {
	mu     sync.Mutex
	queues map[string]*memQueue
	nextID uint64
}

type memQueue struct {
	ready []stomp.QueuedMessage
	wake  chan struct{} // closed and replaced when messages arrive
}

var _ stomp.QueueStore = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{queues: make(map[string]*memQueue)} }

func (m *Memory) queue(name string) *memQueue {
	q := m.queues[name]
	if q == nil {
		q = &memQueue{wake: make(chan struct{})}
		m.queues[name] = q
	}
	return q
}

// add appends messages to q and wakes its consumers; m.mu is held.
func (q *memQueue) add(ms ...stomp.QueuedMessage) {
	q.ready = append(q.ready, ms...)
	close(q.wake)
	q.wake = make(chan struct{})
}

// Put implements stomp.QueueStore.
func (m *Memory) Put(_ context.Context, queue string, payload []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	m.queue(queue).add(stomp.QueuedMessage{ID: strconv.FormatUint(m.nextID, 10), Payload: append([]byte(nil), payload...)})
	return nil
}

// Consume implements stomp.QueueStore.
func (m *Memory) Consume(queue string, deliver func(stomp.QueuedMessage) bool) (stomp.QueueConsumer, error) {
	c := &memConsumer{m: m, name: queue, deliver: deliver, stop: make(chan struct{}), done: make(chan struct{}), ready: make(chan struct{}, 1), inflight: make(map[string]stomp.QueuedMessage)}
	go c.run()
	return c, nil
}

type memConsumer struct {
	m       *Memory
	name    string
	deliver func(stomp.QueuedMessage) bool
	stop    chan struct{}
	done    chan struct{}
	ready   chan struct{}
	once    sync.Once

	mu       sync.Mutex
	held     *stomp.QueuedMessage // taken from the queue, not delivered yet
	inflight map[string]stomp.QueuedMessage
}

func (c *memConsumer) run() {
	defer close(c.done)
	for {
		c.mu.Lock()
		held := c.held
		c.mu.Unlock()
		if held == nil {
			c.m.mu.Lock()
			q := c.m.queue(c.name)
			if len(q.ready) == 0 {
				wake := q.wake
				c.m.mu.Unlock()
				select {
				case <-wake:
				case <-c.stop:
					return
				}
				continue
			}
			msg := q.ready[0]
			q.ready = q.ready[1:]
			c.m.mu.Unlock()
			held = &msg
			c.mu.Lock()
			c.held = held
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.inflight[held.ID] = *held
		c.mu.Unlock()
		if c.deliver(*held) {
			c.mu.Lock()
			c.held = nil
			c.mu.Unlock()
			continue
		}
		c.mu.Lock()
		delete(c.inflight, held.ID)
		c.mu.Unlock()
		select {
		case <-c.ready:
		case <-c.stop:
			return
		}
	}
}

// Ready implements stomp.QueueConsumer.
func (c *memConsumer) Ready() {
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// Ack implements stomp.QueueConsumer.
func (c *memConsumer) Ack(_ context.Context, id string) error {
	c.mu.Lock()
	delete(c.inflight, id)
	c.mu.Unlock()
	return nil
}

// Release implements stomp.QueueConsumer.
func (c *memConsumer) Release(_ context.Context, id string) error {
	c.mu.Lock()
	msg, ok := c.inflight[id]
	delete(c.inflight, id)
	c.mu.Unlock()
	if ok {
		c.m.mu.Lock()
		c.m.queue(c.name).add(msg)
		c.m.mu.Unlock()
	}
	return nil
}

// Close implements stomp.QueueConsumer: a held message goes back to the
// queue; delivered ones stay with it (Memory has no node to die).
func (c *memConsumer) Close() error {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.mu.Lock()
		held := c.held
		c.held = nil
		c.mu.Unlock()
		if held != nil {
			c.m.mu.Lock()
			c.m.queue(c.name).add(*held)
			c.m.mu.Unlock()
		}
	})
	return nil
}
