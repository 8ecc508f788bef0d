package pubsub

import (
	"context"
	"sync"
	"sync/atomic"
)

// DefaultMaxPendingBytes bounds the payloads a zero-configured Memory bus
// holds for delivery.
const DefaultMaxPendingBytes = 64 << 20

// Memory is a Bus within one process. Publish queues the payload and
// returns; one delivery goroutine calls the handlers in publish order, so
// every subscriber sees the same order (stronger than a Bus must give).
// Create it with NewMemory and Close it when done.
type Memory struct {
	maxPending int

	mu      sync.Mutex
	subs    map[string][]*subscription
	queue   []pending
	bytes   int // payload bytes in queue
	closed  bool
	wake    chan struct{} // cap 1: queue became non-empty
	stopped chan struct{} // closed when the delivery goroutine exits
}

type pending struct {
	topic   string
	payload []byte
}

type subscription struct {
	h         Handler
	cancelled atomic.Bool
}

var _ Counter = (*Memory)(nil)

// NewMemory returns a running in-memory bus that holds at most
// maxPendingBytes of undelivered payloads (zero means
// DefaultMaxPendingBytes); past it Publish fails with ErrOverflow.
func NewMemory(maxPendingBytes int) *Memory {
	if maxPendingBytes <= 0 {
		maxPendingBytes = DefaultMaxPendingBytes
	}
	m := &Memory{
		maxPending: maxPendingBytes,
		subs:       make(map[string][]*subscription),
		wake:       make(chan struct{}, 1),
		stopped:    make(chan struct{}),
	}
	go m.deliver()
	return m
}

// Publish implements Bus. It never blocks on subscribers, so a handler may
// publish. The bus keeps payload until delivered: do not change it.
func (m *Memory) Publish(ctx context.Context, topic string, payload []byte) error {
	_, err := m.PublishCount(ctx, topic, payload)
	return err
}

// PublishCount implements Counter: it counts the topic's subscriptions.
func (m *Memory) PublishCount(ctx context.Context, topic string, payload []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	n := len(m.subs[topic])
	if n == 0 {
		return 0, nil // nobody to tell: at most once
	}
	if m.bytes+len(payload) > m.maxPending {
		return 0, ErrOverflow
	}
	m.queue = append(m.queue, pending{topic, payload})
	m.bytes += len(payload)
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return n, nil
}

// Subscribe implements Bus.
func (m *Memory) Subscribe(ctx context.Context, topic string, h Handler) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &subscription{h: h}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	m.subs[topic] = append(m.subs[topic], s)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.cancelled.Store(true)
			m.mu.Lock()
			defer m.mu.Unlock()
			list := m.subs[topic]
			for i, x := range list {
				if x == s {
					// copy so that a snapshot being delivered is not changed
					list = append(append([]*subscription(nil), list[:i]...), list[i+1:]...)
					break
				}
			}
			if len(list) == 0 {
				delete(m.subs, topic)
			} else {
				m.subs[topic] = list
			}
		})
	}, nil
}

// Close stops delivery; payloads not yet delivered are dropped. Later
// Publish and Subscribe calls fail with ErrClosed. It does not wait for a
// handler that is running; Done tells when delivery has stopped.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.queue, m.bytes = nil, 0
	m.mu.Unlock()
	close(m.wake)
	return nil
}

// Done is closed once the delivery goroutine has exited after Close.
func (m *Memory) Done() <-chan struct{} { return m.stopped }

func (m *Memory) deliver() {
	defer close(m.stopped)
	for range m.wake {
		for {
			m.mu.Lock()
			if m.closed || len(m.queue) == 0 {
				m.mu.Unlock()
				break
			}
			p := m.queue[0]
			m.queue[0] = pending{}
			m.queue = m.queue[1:]
			if len(m.queue) == 0 {
				m.queue = nil // let the backing array go
			}
			m.bytes -= len(p.payload)
			subs := m.subs[p.topic] // never changed in place: see cancel
			m.mu.Unlock()
			for _, s := range subs {
				if !s.cancelled.Load() {
					s.h(p.topic, p.payload)
				}
			}
		}
	}
}
