package sockjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sockline/sockline/presence"
)

// DefaultPresenceTTL is how long a member whose node died stays listed,
// when PresenceOptions.TTL is zero.
const DefaultPresenceTTL = 15 * time.Second

// PresenceOptions configures presence (Handler.Join, Members,
// WatchPresence).
type PresenceOptions struct {
	// Store holds the members. Nil means in this process's memory, which
	// is right for one node only: a cluster needs a store its nodes share
	// (cluster/redis.NewPresence), or Join fails.
	Store presence.Store
	// TTL bounds how long a member stays listed after its node died
	// without a word: each node renews its members every third of it.
	// A session that closes leaves at once. Zero means
	// DefaultPresenceTTL.
	TTL time.Duration
}

// ErrPresenceStore is returned by Join in a cluster without
// Options.Presence.Store.
var ErrPresenceStore = errors.New("sockjs: presence in a cluster needs a store its nodes share: set Options.Presence.Store (cluster/redis.NewPresence)")

// presenceHub holds this node's members, to renew them, and the
// application's watchers, told of joins and leaves.
type presenceHub struct {
	h     *Handler
	store presence.Store
	ttl   time.Duration

	mu       sync.Mutex
	local    map[string]map[string]presence.Member // topic, id
	watchers map[string]*presenceWatchers          // topic
	running  bool
	wake     chan struct{} // cap 1: the loop may have nothing left to do
}

// presenceWatchers is one topic's watchers; in a cluster, cancel ends the
// node's bus subscription to the topic's events.
type presenceWatchers struct {
	fs     map[*func(presence.Event)]struct{}
	cancel func()
	ready  chan struct{} // closed once the bus subscription is in place (or failed: err)
	err    error
}

func (p *presenceHub) init(h *Handler) {
	p.h = h
	p.store = h.opts.Presence.Store
	if p.store == nil && h.opts.Cluster == nil {
		p.store = presence.NewMemory()
	}
	p.ttl = h.opts.Presence.TTL
	if p.ttl <= 0 {
		p.ttl = DefaultPresenceTTL
	}
	p.local = make(map[string]map[string]presence.Member)
	p.watchers = make(map[string]*presenceWatchers)
	p.wake = make(chan struct{}, 1)
}

// storeTopic is topic's name in the store and on the bus: the service's.
func (p *presenceHub) storeTopic(topic string) string {
	if p.h.cl != nil {
		return "sockline/" + p.h.cl.cfg.Service + "/presence/" + topic
	}
	return topic
}

// Join makes s a member of topic, with info (say, its user name) for
// Members and the watchers, until leave is called or the session closes;
// in a cluster every node sees it. If this node dies, the member leaves
// once Options.Presence.TTL has passed.
func (h *Handler) Join(ctx context.Context, s *Session, topic, info string) (leave func(), err error) {
	if topic == "" {
		return nil, ErrEmptyTopic
	}
	p := &h.topics.pres
	if p.store == nil {
		return nil, ErrPresenceStore
	}
	if err := s.s.Err(); err != nil {
		return nil, err
	}
	m := presence.Member{ID: s.ID(), Info: info}
	if err := p.store.Join(ctx, p.storeTopic(topic), p.ttl, m); err != nil {
		return nil, fmt.Errorf("sockjs: join %q: %w", topic, err)
	}
	p.mu.Lock()
	if p.local[topic] == nil {
		p.local[topic] = make(map[string]presence.Member)
	}
	p.local[topic][m.ID] = m
	p.startLocked()
	p.mu.Unlock()
	p.emit(ctx, presence.Event{Topic: topic, Joined: true, Member: m})

	stop := func() bool { return false }
	leave = sync.OnceFunc(func() {
		stop()
		p.mu.Lock()
		delete(p.local[topic], m.ID)
		if len(p.local[topic]) == 0 {
			delete(p.local, topic)
		}
		p.kickLocked()
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		left, err := p.store.Leave(ctx, p.storeTopic(topic), m.ID)
		if err != nil {
			h.opts.Logger.Warn("sockline: presence leave failed; the member expires after Presence.TTL", "topic", topic, "err", err)
			return
		}
		if left {
			p.emit(ctx, presence.Event{Topic: topic, Joined: false, Member: m})
		}
	})
	stop = context.AfterFunc(s.Context(), leave)
	return leave, nil
}

// Members returns topic's members, on every node. Members whose node died
// more than Presence.TTL ago are dropped, and the watchers told.
func (h *Handler) Members(ctx context.Context, topic string) ([]presence.Member, error) {
	p := &h.topics.pres
	if p.store == nil {
		return nil, ErrPresenceStore
	}
	ms, expired, err := p.store.Members(ctx, p.storeTopic(topic))
	if err != nil {
		return nil, fmt.Errorf("sockjs: members of %q: %w", topic, err)
	}
	for _, m := range expired {
		p.emit(ctx, presence.Event{Topic: topic, Joined: false, Member: m})
	}
	return ms, nil
}

// WatchPresence calls f for every member joining or leaving topic, on any
// node, until cancel is called. f must not block: calls come from one
// goroutine, in the order this node learns of them. While a topic is
// watched the node checks it for expired members every third of
// Presence.TTL, so a member of a dead node is announced as leaving within
// about 1.3 TTL.
func (h *Handler) WatchPresence(ctx context.Context, topic string, f func(presence.Event)) (cancel func(), err error) {
	if topic == "" {
		return nil, ErrEmptyTopic
	}
	p := &h.topics.pres
	fp := &f
	p.mu.Lock()
	w := p.watchers[topic]
	first := w == nil
	if first {
		w = &presenceWatchers{fs: make(map[*func(presence.Event)]struct{}), ready: make(chan struct{})}
		p.watchers[topic] = w
		if h.cl == nil {
			close(w.ready)
		}
	}
	w.fs[fp] = struct{}{}
	p.startLocked()
	p.mu.Unlock()
	cancel = sync.OnceFunc(func() {
		p.mu.Lock()
		delete(w.fs, fp)
		var busCancel func()
		if len(w.fs) == 0 && p.watchers[topic] == w {
			delete(p.watchers, topic)
			busCancel = w.cancel
		}
		p.kickLocked()
		p.mu.Unlock()
		if busCancel != nil {
			busCancel()
		}
	})
	if first && h.cl != nil {
		bc, err := h.cl.cfg.Bus.Subscribe(ctx, p.storeTopic(topic), func(_ string, b []byte) {
			var ev presence.Event
			if json.Unmarshal(b, &ev) != nil {
				return
			}
			h.cl.fanOut(func() { p.notify(ev) })
		})
		p.mu.Lock()
		w.err = err
		if err != nil && p.watchers[topic] == w {
			delete(p.watchers, topic) // the next watcher tries again
		}
		if err == nil && p.watchers[topic] == w {
			w.cancel = bc
			bc = nil
		}
		close(w.ready)
		p.mu.Unlock()
		if bc != nil { // everyone left meanwhile
			bc()
		}
	}
	select {
	case <-w.ready:
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
	if w.err != nil {
		cancel()
		return nil, fmt.Errorf("sockjs: watch presence of %q: %w", topic, w.err)
	}
	return cancel, nil
}

// emit tells every node's watchers of ev.
func (p *presenceHub) emit(ctx context.Context, ev presence.Event) {
	if p.h.cl == nil {
		p.notify(ev)
		return
	}
	b, _ := json.Marshal(ev)
	if err := p.h.cl.cfg.Bus.Publish(ctx, p.storeTopic(ev.Topic), b); err != nil {
		p.h.opts.Logger.Warn("sockline: a presence event was lost", "topic", ev.Topic, "err", err)
	}
}

// notify calls this node's watchers of ev's topic.
func (p *presenceHub) notify(ev presence.Event) {
	p.mu.Lock()
	w := p.watchers[ev.Topic]
	var fs []func(presence.Event)
	if w != nil {
		for f := range w.fs {
			fs = append(fs, *f)
		}
	}
	p.mu.Unlock()
	for _, f := range fs {
		f(ev)
	}
}

// startLocked starts the loop that renews members and sweeps watched
// topics, if it is not running. Called with p.mu held.
func (p *presenceHub) startLocked() {
	if p.running {
		return
	}
	p.running = true
	go p.loop()
}

// kickLocked wakes the loop to see whether it has work left. Called with
// p.mu held.
func (p *presenceHub) kickLocked() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// loop renews this node's members and looks for expired ones in watched
// topics every third of the TTL; it ends when there is neither.
func (p *presenceHub) loop() {
	tick := time.NewTicker(p.ttl / 3)
	defer tick.Stop()
	for {
		ticked := false
		select {
		case <-tick.C:
			ticked = true
		case <-p.wake:
		}
		p.mu.Lock()
		if len(p.local) == 0 && len(p.watchers) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		if !ticked {
			p.mu.Unlock()
			continue
		}
		renew := make(map[string][]presence.Member, len(p.local))
		for topic, ms := range p.local {
			for _, m := range ms {
				renew[topic] = append(renew[topic], m)
			}
		}
		var watched []string
		for topic := range p.watchers {
			watched = append(watched, topic)
		}
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), p.ttl/3)
		for topic, ms := range renew {
			if err := p.store.Join(ctx, p.storeTopic(topic), p.ttl, ms...); err != nil {
				p.h.opts.Logger.Warn("sockline: presence renewal failed", "topic", topic, "err", err)
			}
		}
		for _, topic := range watched {
			_, _ = p.h.Members(ctx, topic)
		}
		cancel()
	}
}
