package sockjs

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrEmptyTopic is returned by Subscribe and Publish for an empty topic name.
var ErrEmptyTopic = errors.New("sockjs: the topic name must not be empty")

// Subscribe adds session s to topic: every Publish to topic, on this node or
// (in a cluster) any other, reaches it until unsubscribe is called, the
// session's handler returns, or the session closes. Subscribing twice is
// harmless. In a cluster, the first subscriber of a topic on a node waits
// for the node's subscription on the bus, bounded by ctx.
func (h *Handler) Subscribe(ctx context.Context, s *Session, topic string) (unsubscribe func(), err error) {
	if topic == "" {
		return nil, ErrEmptyTopic
	}
	if b, ok := h.topics.hist.bounds(topic); ok {
		sub, err := h.topics.hist.subscribe(ctx, s, topic, nil, b)
		if err != nil {
			return nil, err
		}
		return sub.Unsubscribe, nil
	}
	return h.topics.subscribe(ctx, s, topic)
}

// Publish sends msg to every session subscribed to topic, encoding it once
// per node. In a cluster it goes through the bus and reaches every node;
// an error means it reached none (the bus refused it). Sessions that are
// closed or too far behind are skipped, as by Broadcast.
func (h *Handler) Publish(ctx context.Context, topic, msg string) error {
	if topic == "" {
		return ErrEmptyTopic
	}
	if b, ok := h.topics.hist.bounds(topic); ok {
		_, err := h.topics.hist.publish(ctx, topic, msg, b)
		return err
	}
	if h.cl == nil {
		h.topics.fanOut(topic, NewMessage(msg))
		return nil
	}
	if err := h.cl.cfg.Bus.Publish(ctx, h.cl.topic(topic), []byte(msg)); err != nil {
		return fmt.Errorf("sockjs: publish to %q: %w", topic, err)
	}
	return nil
}

// topicHub holds this node's topic subscriptions: which sessions each topic
// reaches, and (in a cluster) the node's one bus subscription per topic.
type topicHub struct {
	h *Handler

	mu        sync.Mutex
	topics    map[string]*topicEntry
	bySession map[*Session]map[string]struct{}
	hist      historyHub  // topics with history (history.go)
	pres      presenceHub // members of topics (presence.go)
}

// topicEntry is one topic on this node. ready is closed once the bus
// subscription is in place or failed (err); cancel ends it.
type topicEntry struct {
	sessions map[*Session]struct{}
	ready    chan struct{}
	err      error
	cancel   func()
}

func (t *topicHub) init(h *Handler) {
	t.h = h
	t.topics = make(map[string]*topicEntry)
	t.bySession = make(map[*Session]map[string]struct{})
	t.hist.init(h)
	t.pres.init(h)
}

func (t *topicHub) subscribe(ctx context.Context, s *Session, topic string) (func(), error) {
	if err := s.s.Err(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	e := t.topics[topic]
	first := e == nil
	if first {
		e = &topicEntry{sessions: make(map[*Session]struct{}), ready: make(chan struct{})}
		t.topics[topic] = e
		if t.h.cl == nil {
			close(e.ready) // one node: nothing to subscribe to
		}
	}
	e.sessions[s] = struct{}{}
	if t.bySession[s] == nil {
		t.bySession[s] = make(map[string]struct{})
	}
	t.bySession[s][topic] = struct{}{}
	t.mu.Unlock()

	unsubscribe := sync.OnceFunc(func() { t.remove(s, topic) })
	if first && t.h.cl != nil {
		cancel, err := t.h.cl.cfg.Bus.Subscribe(ctx, t.h.cl.topic(topic), func(_ string, p []byte) {
			t.h.cl.fanOut(func() { t.fanOut(topic, NewMessage(string(p))) })
		})
		t.mu.Lock()
		e.err, e.cancel = err, cancel
		if err != nil && t.topics[topic] == e {
			delete(t.topics, topic) // the next Subscribe tries again
		}
		orphan := err == nil && len(e.sessions) == 0 // everyone left meanwhile
		if orphan && t.topics[topic] == e {
			// Forget the entry with its subscription: a later subscriber
			// must subscribe the node again, not join a cancelled one.
			delete(t.topics, topic)
		}
		close(e.ready)
		t.mu.Unlock()
		if orphan {
			cancel()
		}
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		unsubscribe()
		return nil, ctx.Err()
	}
	if e.err != nil {
		unsubscribe()
		return nil, fmt.Errorf("sockjs: subscribe to %q: %w", topic, e.err)
	}
	return unsubscribe, nil
}

// remove takes s off topic; the topic's last session on this node ends the
// node's bus subscription.
func (t *topicHub) remove(s *Session, topic string) {
	t.mu.Lock()
	if ts := t.bySession[s]; ts != nil {
		delete(ts, topic)
		if len(ts) == 0 {
			delete(t.bySession, s)
		}
	}
	e := t.topics[topic]
	var cancel func()
	if e != nil {
		delete(e.sessions, s)
		if len(e.sessions) == 0 {
			select {
			case <-e.ready:
				cancel = e.cancel
				delete(t.topics, topic)
			default: // still subscribing: subscribe cancels the orphan
			}
		}
	}
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// drop takes s off every topic, when its handler returns.
func (t *topicHub) drop(s *Session) {
	t.mu.Lock()
	var topics []string
	for topic := range t.bySession[s] {
		topics = append(topics, topic)
	}
	t.mu.Unlock()
	for _, topic := range topics {
		t.remove(s, topic)
	}
}

// fanOut sends m to the topic's sessions on this node; closed ones are
// dropped as it goes.
func (t *topicHub) fanOut(topic string, m Message) {
	t.mu.Lock()
	e := t.topics[topic]
	if e == nil {
		t.mu.Unlock()
		return
	}
	targets := make([]*Session, 0, len(e.sessions))
	for s := range e.sessions {
		targets = append(targets, s)
	}
	t.mu.Unlock()
	for _, s := range targets {
		if err := s.SendMessage(m); err != nil && s.s.Err() != nil {
			t.remove(s, topic)
		}
	}
}
