package stomp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sockline/sockline/presence"
)

// Headers of presence (see PresenceConfig).
const (
	// HdrPresence: "true" on a topic SUBSCRIBE joins the topic's presence
	// for as long as the subscription lasts.
	HdrPresence = "x-presence"
	// HdrPresenceInfo: on such a SUBSCRIBE, the member's info (what the
	// others read about it). Absent means the principal's name.
	HdrPresenceInfo = "x-presence-info"
)

// DefaultPresenceTTL is PresenceConfig.TTL's default.
const DefaultPresenceTTL = 15 * time.Second

// PresenceConfig tells who is subscribed to which topic, across nodes. A
// topic SUBSCRIBE with the header "x-presence: true" makes its
// subscription a member of the topic (member id: session id "/"
// subscription id; info: the "x-presence-info" header, or the principal's
// name) until it ends. For a topic {TopicPrefix}{name} (/topic/chat):
//
//   - SUBSCRIBE {AppPrefix}presence/{name} (/app/presence/chat) is answered
//     once, on that subscription, with the members: a JSON array of
//     {"id","info"} objects;
//   - {TopicPrefix}presence.{name} (/topic/presence.chat) carries each join
//     and leave as a JSON presence.Event: {"topic","joined","member"}.
//
// The first of Config.AppPrefixes and Config.TopicPrefixes are used. A
// member whose node dies leaves within TTL (announced by another node with
// members in that topic). It works with the built-in broker only (not
// with Config.Relay).
type PresenceConfig struct {
	// Enabled turns presence on.
	Enabled bool
	// Store holds the members. Nil means this process's memory; a cluster
	// needs one shared by its nodes (cluster/redis Bus.Presence()).
	Store presence.Store
	// TTL is how long a member of a node that stopped renewing it stays.
	// Zero means DefaultPresenceTTL; the node renews its members every
	// third of it.
	TTL time.Duration
}

// presenceTimeout bounds each call to the presence store.
const presenceTimeout = 5 * time.Second

// presenceState is a Server's presence: its local members, renewed.
type presenceState struct {
	srv   *Server
	store presence.Store
	ttl   time.Duration
	stop  chan struct{}
	done  chan struct{}

	mu     sync.Mutex
	local  map[string]map[string]presence.Member // topic → member id → member
	closed bool
}

func newPresence(srv *Server, cfg PresenceConfig) *presenceState {
	if cfg.Store == nil {
		cfg.Store = presence.NewMemory()
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultPresenceTTL
	}
	p := &presenceState{srv: srv, store: cfg.Store, ttl: cfg.TTL, stop: make(chan struct{}), done: make(chan struct{}),
		local: make(map[string]map[string]presence.Member)}
	go p.renew()
	srv.HandleSubscribe(srv.cfg.AppPrefixes[0]+"presence/**", p.answerMembers)
	return p
}

// eventsDest is where topic's joins and leaves go, if topic has a name
// under the first topic prefix.
func (p *presenceState) eventsDest(topic string) (string, bool) {
	tp := p.srv.cfg.TopicPrefixes[0]
	name, ok := strings.CutPrefix(topic, tp)
	return tp + "presence." + name, ok && name != ""
}

// join makes s a member of its topic.
func (p *presenceState) join(ctx context.Context, s *subscription, info string) error {
	m := presence.Member{ID: s.c.id + "/" + s.id, Info: info}
	ctx, cancel := context.WithTimeout(ctx, presenceTimeout)
	defer cancel()
	if err := p.store.Join(ctx, s.key, p.ttl, m); err != nil {
		return fmt.Errorf("%w: join the presence of %s: %w", errBus, s.key, err)
	}
	p.mu.Lock()
	t := p.local[s.key]
	if t == nil {
		t = make(map[string]presence.Member)
		p.local[s.key] = t
	}
	t[m.ID] = m
	p.mu.Unlock()
	p.announce(ctx, presence.Event{Topic: s.key, Joined: true, Member: m})
	return nil
}

// leave removes s from its topic's members, if it joined.
func (p *presenceState) leave(s *subscription) {
	id := s.c.id + "/" + s.id
	p.mu.Lock()
	m, ok := p.local[s.key][id]
	if ok {
		delete(p.local[s.key], id)
		if len(p.local[s.key]) == 0 {
			delete(p.local, s.key)
		}
	}
	p.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	if was, err := p.store.Leave(ctx, s.key, id); err != nil {
		p.srv.cfg.Logger.Warn("stomp: leave presence", "topic", s.key, "error", err)
	} else if was {
		p.announce(ctx, presence.Event{Topic: s.key, Joined: false, Member: m})
	}
}

// announce publishes ev on its topic's events destination.
func (p *presenceState) announce(ctx context.Context, ev presence.Event) {
	dest, ok := p.eventsDest(ev.Topic)
	if !ok {
		return
	}
	body, _ := json.Marshal(ev)
	if err := p.srv.broker.send(ctx, dest, newMessage(Header{{HdrContentType, "application/json"}}, body)); err != nil {
		p.srv.cfg.Logger.Warn("stomp: announce presence", "topic", ev.Topic, "error", err)
	}
}

// renew renews the local members every third of the TTL, and announces
// the members of their topics that expired (their node stopped).
func (p *presenceState) renew() {
	defer close(p.done)
	tick := time.NewTicker(p.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		topics := make(map[string][]presence.Member, len(p.local))
		for t, ms := range p.local {
			for _, m := range ms {
				topics[t] = append(topics[t], m)
			}
		}
		p.mu.Unlock()
		for t, ms := range topics {
			ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
			if err := p.store.Join(ctx, t, p.ttl, ms...); err != nil {
				p.srv.cfg.Logger.Warn("stomp: renew presence", "topic", t, "error", err)
			}
			if _, expired, err := p.store.Members(ctx, t); err == nil {
				for _, m := range expired {
					p.announce(ctx, presence.Event{Topic: t, Joined: false, Member: m})
				}
			}
			cancel()
		}
	}
}

// answerMembers answers SUBSCRIBE {AppPrefix}presence/{name} with the
// members of {TopicPrefix}{name}.
func (p *presenceState) answerMembers(ctx context.Context, m *AppMessage) error {
	name := strings.TrimPrefix(m.Destination, p.srv.cfg.AppPrefixes[0]+"presence/")
	topic := p.srv.cfg.TopicPrefixes[0] + name
	if err := m.c.authorize(ctx, OpSubscribe, topic); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	ctx, cancel := context.WithTimeout(ctx, presenceTimeout)
	defer cancel()
	members, expired, err := p.store.Members(ctx, topic)
	if err != nil {
		return fmt.Errorf("read the members of %s: %w", topic, err)
	}
	for _, e := range expired {
		p.announce(ctx, presence.Event{Topic: topic, Joined: false, Member: e})
	}
	if members == nil {
		members = []presence.Member{}
	}
	body, _ := json.Marshal(members)
	return m.Reply(m.Destination, Header{{HdrContentType, "application/json"}}, body)
}

// close stops the renewal; the node's members then expire (the
// connections' teardown removes them first when they end before).
func (p *presenceState) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	<-p.done
}
