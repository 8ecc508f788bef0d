package history

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Position is where a message sits in its topic's history.
type Position struct {
	// Offset is the message's number in its topic: 1 for the first
	// message of an epoch, one more for each next one. The position of a
	// topic with no message yet has Offset 0.
	Offset uint64 `json:"offset"`
	// Epoch names the history the offset counts in; it changes when the
	// history is lost and starts again.
	Epoch string `json:"epoch"`
}

// String returns "offset@epoch", what ParsePosition reads.
func (p Position) String() string { return strconv.FormatUint(p.Offset, 10) + "@" + p.Epoch }

// ParsePosition reads a position written by Position.String.
func ParsePosition(s string) (Position, error) {
	o, e, ok := strings.Cut(s, "@")
	if !ok || e == "" {
		return Position{}, errors.New("history: a position is written offset@epoch, such as 12@3f9a1c")
	}
	n, err := strconv.ParseUint(o, 10, 64)
	if err != nil {
		return Position{}, errors.New("history: the offset of a position is a decimal number")
	}
	return Position{Offset: n, Epoch: e}, nil
}

// Entry is one message of a topic's history.
type Entry struct {
	Position
	Payload []byte
}

// Bounds says how much history a topic keeps. A store keeps at least
// this much (Redis trims approximately, so it may keep a little more).
type Bounds struct {
	// Size is how many messages are kept. Zero means DefaultSize.
	Size int
	// TTL is how long a message is kept. Zero means DefaultTTL.
	TTL time.Duration
	// KeepPosition is how long a topic's position (epoch and offset)
	// outlives its last message: a topic idle for longer starts a new
	// epoch. Zero means DefaultKeepPosition.
	KeepPosition time.Duration
}

// Defaults of Bounds.
const (
	DefaultSize         = 1000
	DefaultTTL          = 10 * time.Minute
	DefaultKeepPosition = 24 * time.Hour
)

// WithDefaults returns b with zero fields set to their defaults.
func (b Bounds) WithDefaults() Bounds {
	if b.Size <= 0 {
		b.Size = DefaultSize
	}
	if b.TTL <= 0 {
		b.TTL = DefaultTTL
	}
	if b.KeepPosition <= 0 {
		b.KeepPosition = DefaultKeepPosition
	}
	if b.KeepPosition < b.TTL {
		b.KeepPosition = b.TTL
	}
	return b
}

// Store appends and reads topics' histories. Implementations are safe for
// concurrent use.
type Store interface {
	// Publish appends payload to topic's history, trimmed to b, and returns
	// its position. A store made with a bus also publishes
	// Frame(position, payload) on it under topic, in offset order.
	Publish(ctx context.Context, topic string, payload []byte, b Bounds) (Position, error)
	// Since returns topic's messages after from.Offset, oldest first, at
	// most limit of them, and the topic's current position (its last
	// message's, or offset 0 of a new epoch when it has none, which it then
	// keeps). It returns no entries when from's epoch is not the
	// current one or when more than limit messages came after from; limit
	// 0 only reads the current position. Whether the entries are every
	// message after from is for Recoverable to say.
	Since(ctx context.Context, topic string, from Position, limit int) (entries []Entry, top Position, err error)
}

// Recoverable tells whether entries, read by Since(from), are every
// message after from up to top: same epoch, nothing trimmed, nothing over
// the limit.
func Recoverable(from Position, entries []Entry, top Position) bool {
	if from.Epoch != top.Epoch || from.Offset > top.Offset {
		return false
	}
	if from.Offset == top.Offset {
		return true
	}
	return len(entries) > 0 && entries[0].Offset == from.Offset+1 &&
		entries[len(entries)-1].Offset == top.Offset &&
		uint64(len(entries)) == top.Offset-from.Offset
}

// NewEpoch returns a random epoch.
func NewEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// framePrefix starts every framed payload; the 1 is the format's version.
const framePrefix = "h1:"

// Frame returns payload with its position in front, as a store with a bus
// publishes it: "h1:" offset ":" epoch ":" payload. Epochs must not hold a
// colon.
func Frame(p Position, payload []byte) []byte {
	b := make([]byte, 0, len(framePrefix)+24+len(p.Epoch)+len(payload))
	b = append(b, framePrefix...)
	b = strconv.AppendUint(b, p.Offset, 10)
	b = append(b, ':')
	b = append(b, p.Epoch...)
	b = append(b, ':')
	return append(b, payload...)
}

// ErrNotFramed is returned by ParseFrame for a payload Frame did not make.
var ErrNotFramed = errors.New("history: not a framed payload (does every node keep history for this topic?)")

// ParseFrame reads a payload made by Frame. The entry's payload shares
// b's memory.
func ParseFrame(b []byte) (Entry, error) {
	rest, ok := bytes.CutPrefix(b, []byte(framePrefix))
	if !ok {
		return Entry{}, ErrNotFramed
	}
	off, rest, ok := bytes.Cut(rest, []byte{':'})
	if !ok || len(off) == 0 || len(off) > 20 {
		return Entry{}, ErrNotFramed
	}
	n, err := strconv.ParseUint(string(off), 10, 64)
	if err != nil || (off[0] == '0' && len(off) > 1) || off[0] == '+' {
		return Entry{}, ErrNotFramed
	}
	epoch, payload, ok := bytes.Cut(rest, []byte{':'})
	if !ok || len(epoch) == 0 {
		return Entry{}, ErrNotFramed
	}
	return Entry{Position: Position{Offset: n, Epoch: string(epoch)}, Payload: payload}, nil
}

// Rule keeps history for the topics that match Pattern.
type Rule struct {
	// Pattern is a topic name, or a prefix followed by "*" ("room/*"
	// matches every topic that starts with "room/"; "*" matches all).
	Pattern string
	// Bounds is how much history each matching topic keeps.
	Bounds Bounds
}

// Match returns the bounds of the first rule whose pattern matches topic.
func Match(rules []Rule, topic string) (Bounds, bool) {
	for _, r := range rules {
		if p, ok := strings.CutSuffix(r.Pattern, "*"); ok {
			if strings.HasPrefix(topic, p) {
				return r.Bounds.WithDefaults(), true
			}
		} else if r.Pattern == topic {
			return r.Bounds.WithDefaults(), true
		}
	}
	return Bounds{}, false
}
