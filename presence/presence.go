// Package presence keeps who is in which topic, across nodes: members that
// join with a time to live their node renews, so that a member whose
// session or node died leaves within that time, never stays for good.
//
// A [Store] holds the members; [Memory] is one process's, package
// cluster/redis has one on Redis. Package sockjs renews its sessions'
// entries and turns joins, leaves and expiries into events.
package presence

import (
	"context"
	"sync"
	"time"
)

// Member is one member of a topic.
type Member struct {
	// ID names the member, unique in its topic (package sockjs uses the
	// session id).
	ID string `json:"id"`
	// Info is the application's data about the member, such as a user
	// name; it comes back with Members.
	Info string `json:"info,omitempty"`
}

// Event is a member joining or leaving a topic.
type Event struct {
	Topic  string `json:"topic"`
	Joined bool   `json:"joined"` // false: it left (or expired)
	Member Member `json:"member"`
}

// Store holds topics' members. Implementations are safe for concurrent
// use.
type Store interface {
	// Join adds members to topic, or renews them, until ttl passes without
	// another Join of theirs.
	Join(ctx context.Context, topic string, ttl time.Duration, members ...Member) error
	// Leave removes a member from topic and reports whether it was there.
	Leave(ctx context.Context, topic, id string) (bool, error)
	// Members returns topic's members, and removes those whose time ran
	// out, returning them as expired: each expired member is returned to
	// one caller only, who announces it left.
	Members(ctx context.Context, topic string) (members, expired []Member, err error)
}

// Memory is a Store in one process's memory.
type Memory struct {
	now func() time.Time

	mu     sync.Mutex
	topics map[string]map[string]memMember
}

type memMember struct {
	info    string
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{now: time.Now, topics: make(map[string]map[string]memMember)}
}

// Join implements Store.
func (m *Memory) Join(ctx context.Context, topic string, ttl time.Duration, members ...Member) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	exp := m.now().Add(ttl)
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topics[topic]
	if t == nil {
		t = make(map[string]memMember)
		m.topics[topic] = t
	}
	for _, mb := range members {
		t[mb.ID] = memMember{info: mb.Info, expires: exp}
	}
	return nil
}

// Leave implements Store.
func (m *Memory) Leave(ctx context.Context, topic, id string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topics[topic]
	if _, ok := t[id]; !ok {
		return false, nil
	}
	delete(t, id)
	if len(t) == 0 {
		delete(m.topics, topic)
	}
	return true, nil
}

// Members implements Store.
func (m *Memory) Members(ctx context.Context, topic string) (members, expired []Member, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topics[topic]
	for id, mb := range t {
		if now.After(mb.expires) {
			expired = append(expired, Member{ID: id, Info: mb.info})
			delete(t, id)
			continue
		}
		members = append(members, Member{ID: id, Info: mb.info})
	}
	if t != nil && len(t) == 0 {
		delete(m.topics, topic)
	}
	return members, expired, nil
}
