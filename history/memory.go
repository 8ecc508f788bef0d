package history

import (
	"context"
	"sync"
	"time"

	"github.com/sockline/sockline/pubsub"
)

// Memory is a Store in one process's memory. Its epochs are made at
// random when a topic starts, so a restarted process never recovers a
// client from a position of its previous life.
type Memory struct {
	bus pubsub.Bus
	now func() time.Time

	mu      sync.Mutex
	topics  map[string]*memTopic
	appends int // since the last sweep of idle topics
}

type memTopic struct {
	epoch   string
	offset  uint64
	entries []memEntry // oldest first
	last    time.Time  // of the last publish or read
	keep    time.Duration
}

type memEntry struct {
	offset  uint64
	at      time.Time
	payload []byte
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store. With a bus, Publish also
// publishes each framed message on it, under the store's lock so that the
// bus gets them in offset order (pubsub.Memory's Publish never blocks);
// nil means no bus, for one process whose caller delivers live messages
// itself.
func NewMemory(bus pubsub.Bus) *Memory {
	return &Memory{bus: bus, now: time.Now, topics: make(map[string]*memTopic)}
}

// topic returns topic's state, started anew (new epoch) when absent or idle
// past its KeepPosition. Called with m.mu held.
func (m *Memory) topic(name string, now time.Time, keep time.Duration) *memTopic {
	t := m.topics[name]
	if t != nil && now.Sub(t.last) > t.keep {
		t = nil
	}
	if t == nil {
		if keep <= 0 {
			keep = DefaultKeepPosition
		}
		t = &memTopic{epoch: NewEpoch(), keep: keep}
		m.topics[name] = t
	}
	t.last = now
	return t
}

// Publish implements Store. It fails only with ctx's error, or the bus's.
func (m *Memory) Publish(ctx context.Context, topic string, payload []byte, b Bounds) (Position, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, err
	}
	b = b.WithDefaults()
	now := m.now()
	p := append([]byte(nil), payload...)
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topic(topic, now, b.KeepPosition)
	t.keep = b.KeepPosition
	t.offset++
	t.entries = append(t.entries, memEntry{offset: t.offset, at: now, payload: p})
	t.trim(b.Size, now.Add(-b.TTL))
	pos := Position{Offset: t.offset, Epoch: t.epoch}
	if m.bus != nil {
		if err := m.bus.Publish(ctx, topic, Frame(pos, p)); err != nil {
			return pos, err // kept in history: a recovering client gets it
		}
	}
	m.appends++
	if m.appends >= 1024 {
		m.appends = 0
		m.sweep(now)
	}
	return pos, nil
}

// trim drops entries past size and those older than cut.
func (t *memTopic) trim(size int, cut time.Time) {
	drop := 0
	if n := len(t.entries) - size; n > 0 {
		drop = n
	}
	for drop < len(t.entries) && t.entries[drop].at.Before(cut) {
		drop++
	}
	if drop > 0 {
		clear(t.entries[:drop])
		t.entries = t.entries[drop:]
	}
	if cap(t.entries) > 2*size+16 { // let a long-lived topic's array go
		t.entries = append([]memEntry(nil), t.entries...)
	}
}

// sweep forgets topics idle past their KeepPosition. Called with m.mu held.
func (m *Memory) sweep(now time.Time) {
	for name, t := range m.topics {
		if now.Sub(t.last) > t.keep {
			delete(m.topics, name)
		}
	}
}

// Since implements Store. Entries older than their TTL are trimmed by
// Publish; a reader may still get them until the next one.
func (m *Memory) Since(ctx context.Context, topic string, from Position, limit int) ([]Entry, Position, error) {
	if err := ctx.Err(); err != nil {
		return nil, Position{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topic(topic, m.now(), 0)
	top := Position{Offset: t.offset, Epoch: t.epoch}
	if from.Epoch != t.epoch || from.Offset >= t.offset || t.offset-from.Offset > uint64(limit) {
		return nil, top, nil
	}
	i := 0
	if len(t.entries) > 0 && t.entries[0].offset <= from.Offset {
		i = int(from.Offset - t.entries[0].offset + 1)
	}
	out := make([]Entry, 0, len(t.entries)-i)
	for _, e := range t.entries[i:] {
		out = append(out, Entry{Position: Position{Offset: e.offset, Epoch: t.epoch}, Payload: e.payload})
	}
	return out, top, nil
}
