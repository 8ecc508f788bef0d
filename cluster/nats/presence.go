package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockline/sockline/presence"
)

// DefaultPresenceStream names the stream of every topic's members, when
// PresenceOptions.Stream is empty.
const DefaultPresenceStream = "sockline-presence"

// PresenceOptions configures a Presence.
type PresenceOptions struct {
	// Prefix starts the members' subjects: Prefix.p.<topic>.<member>.
	// Empty means DefaultPrefix.
	Prefix string
	// Stream names the stream that holds the members: letters, digits, -
	// and _. Empty means DefaultPresenceStream.
	Stream string
	// Storage is where the stream keeps the members. The zero value is
	// jetstream.FileStorage; members are renewed every third of their TTL,
	// so jetstream.MemoryStorage loses little in a restart.
	Storage jetstream.StorageType
	// Replicas is the stream's number of copies in a NATS cluster. Zero
	// means 1.
	Replicas int
}

// Presence is a presence.Store on one JetStream stream: one subject per
// topic and member, keeping only its last message (the member's id, info
// and TTL), written again at each renewal. A member's time runs from the
// server's time stamp of its last renewal; Members compares it with this
// process's clock (a clock ahead of the server's by less than the
// renewal's margin, two thirds of the TTL in package sockjs, never drops a
// member that is renewed).
//
// Members claims each expired member by writing its tombstone with the
// sequence it read as the expected one (Nats-Expected-Last-Subject-Sequence):
// of several nodes sweeping at once, or a renewal racing the sweep, one
// write wins, so each expired member is returned to one caller only. The
// server also deletes every member on its own (a per-message TTL of the
// member's TTL plus a margin: the TTL again, at least a minute), so that
// the members of a topic nobody sweeps take no room for long.
type Presence struct {
	nc   *natsgo.Conn
	js   jetstream.JetStream
	opts PresenceOptions

	mu   sync.Mutex
	made bool // the stream exists, as far as this process knows
}

var _ presence.Store = (*Presence)(nil)

// presenceValue is what a member's subject holds.
type presenceValue struct {
	ID   string `json:"id"`
	Info string `json:"info,omitempty"`
	TTL  int64  `json:"ttl"` // milliseconds
}

// hdrLeft marks a tombstone: the member left or expired.
const hdrLeft = "Sockline-Left"

// tombstoneTTL is how long a tombstone stays (the server's shortest TTL).
const tombstoneTTL = time.Second

// presenceBatch is how many writes one Join or sweep has under way at once.
const presenceBatch = 1000

// membersBatch is how many members one read asks for: the server counts
// what is left after each batch, over the whole topic, so few large
// batches cost less than many small ones. (It stops a batch early past
// its byte limit, 64 MiB by default, and Members asks again.)
const membersBatch = 100000

// NewPresence returns a Presence on nc; it talks to the server only when
// used (the stream is made by the first call), and holds no goroutine.
// The server needs JetStream, 2.11 or later (per-message TTLs).
func NewPresence(nc *natsgo.Conn, opts PresenceOptions) (*Presence, error) {
	if nc == nil {
		return nil, errors.New("cluster: NewPresence needs a NATS connection (see Connect)")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !validSubject(opts.Prefix) {
		return nil, fmt.Errorf("cluster: PresenceOptions.Prefix %q is not a NATS subject: give dot-separated tokens without spaces, * or >", opts.Prefix)
	}
	if opts.Stream == "" {
		opts.Stream = DefaultPresenceStream
	}
	if !streamName.MatchString(opts.Stream) || len(opts.Stream) > 200 {
		return nil, fmt.Errorf("cluster: PresenceOptions.Stream %q: use only letters, digits, - and _", opts.Stream)
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*presenceBatch))
	if err != nil {
		return nil, fmt.Errorf("cluster: JetStream on the NATS connection: %w", err)
	}
	return &Presence{nc: nc, js: js, opts: opts}, nil
}

// Presence returns a Presence on the bus's connection, its subjects under
// the bus's prefix.
func (b *Bus) Presence(opts PresenceOptions) (*Presence, error) {
	opts.Prefix = strings.TrimSuffix(b.prefix, ".t.")
	return NewPresence(b.nc, opts)
}

func (p *Presence) subject(topic, id string) string {
	return p.opts.Prefix + ".p." + token(topic) + "." + token(id)
}

// do runs op, making the stream first when this process has not yet, and
// again when op finds it gone (the server restarted without its data).
func (p *Presence) do(ctx context.Context, what, topic string, op func(ctx context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultWait)
		defer cancel()
	}
	if !p.nc.IsConnected() {
		return fmt.Errorf("cluster: %s presence of %q: NATS connection %s: %w", what, topic, p.nc.Status(), errNotConnected)
	}
	for attempt := 0; ; attempt++ {
		err := p.ensure(ctx)
		if err == nil {
			err = op(ctx)
		}
		if errors.Is(err, errNoStream) && attempt == 0 {
			p.mu.Lock()
			p.made = false
			p.mu.Unlock()
			continue
		}
		if err != nil {
			return fmt.Errorf("cluster: %s presence of %q: %w (is NATS reachable?)", what, topic, err)
		}
		return nil
	}
}

// ensure makes the stream, or finds it, once.
func (p *Presence) ensure(ctx context.Context) error {
	p.mu.Lock()
	made := p.made
	p.mu.Unlock()
	if made {
		return nil
	}
	_, err := p.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              p.opts.Stream,
		Description:       "Sockline presence: the members of every topic",
		Subjects:          []string{p.opts.Prefix + ".p.>"},
		Storage:           p.opts.Storage,
		Replicas:          p.opts.Replicas,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
		AllowMsgTTL:       true,
	})
	if err != nil {
		return fmt.Errorf("make the stream %s (is JetStream enabled on the server?): %w", p.opts.Stream, err)
	}
	p.mu.Lock()
	p.made = true
	p.mu.Unlock()
	return nil
}

// keepFor is how long the server keeps a member renewed with ttl: past
// it, the member is gone even if no node swept it.
func keepFor(ttl time.Duration) time.Duration { return ttl + max(ttl, time.Minute) }

// Join implements presence.Store: one write per member, presenceBatch
// under way at once.
func (p *Presence) Join(ctx context.Context, topic string, ttl time.Duration, members ...presence.Member) error {
	if len(members) == 0 {
		return nil
	}
	msgs := make([]*natsgo.Msg, len(members))
	for i, mb := range members {
		v, _ := json.Marshal(presenceValue{ID: mb.ID, Info: mb.Info, TTL: ttl.Milliseconds()})
		m := natsgo.NewMsg(p.subject(topic, mb.ID))
		m.Data = v
		m.Header.Set(jetstream.MsgTTLHeader, ttlString(keepFor(ttl)))
		msgs[i] = m
	}
	return p.do(ctx, "join", topic, func(ctx context.Context) error {
		for _, err := range p.publishAll(ctx, msgs) {
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// publishAll publishes msgs, presenceBatch under way at once, and returns
// each one's error: errNoStream, errRevision (an expected sequence did not
// hold) or another.
func (p *Presence) publishAll(ctx context.Context, msgs []*natsgo.Msg) []error {
	errs := make([]error, len(msgs))
	for start := 0; start < len(msgs); start += presenceBatch {
		end := min(start+presenceBatch, len(msgs))
		futures := make([]jetstream.PubAckFuture, end-start)
		for i := start; i < end; i++ {
			f, err := p.js.PublishMsgAsync(msgs[i])
			if err != nil {
				errs[i] = err
				continue
			}
			futures[i-start] = f
		}
		for i, f := range futures {
			if f == nil {
				continue
			}
			select {
			case <-f.Ok():
			case err := <-f.Err():
				errs[start+i] = pubError(err)
			case <-ctx.Done():
				errs[start+i] = ctx.Err()
			}
		}
	}
	return errs
}

// pubError maps the errors of an asynchronous publish the callers act on.
func pubError(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, natsgo.ErrNoResponders):
		return errNoStream
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		return errRevision
	}
	return err
}

// tombstone is the message that ends a member whose subject's last
// sequence is still rev.
func (p *Presence) tombstone(topic, id string, rev uint64) *natsgo.Msg {
	m := natsgo.NewMsg(p.subject(topic, id))
	m.Header.Set(hdrLeft, "1")
	m.Header.Set(jetstream.MsgTTLHeader, ttlString(tombstoneTTL))
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, fmt.Sprint(rev))
	return m
}

// leaveAttempts bounds the retries of a Leave that renewals keep beating.
const leaveAttempts = 8

// Leave implements presence.Store: it reads the member, then writes its
// tombstone expecting what it read (a renewal in between makes it read
// again).
func (p *Presence) Leave(ctx context.Context, topic, id string) (bool, error) {
	left := false
	err := p.do(ctx, "leave", topic, func(ctx context.Context) error {
		subj := p.subject(topic, id)
		for range leaveAttempts {
			var rev uint64
			here := false
			_, err := directBatch(ctx, p.nc, p.opts.Stream, directRequest{NextFor: subj, Batch: 1}, func(m *natsgo.Msg, seq uint64) error {
				rev, here = seq, m.Header.Get(hdrLeft) == ""
				return nil
			})
			if err != nil || !here {
				return err
			}
			_, err = publishAck(ctx, p.nc, p.tombstone(topic, id, rev))
			if errors.Is(err, errRevision) {
				continue // renewed, or left, meanwhile
			}
			left = err == nil
			return err
		}
		return errors.New("the member kept changing")
	})
	return left, err
}

// Members implements presence.Store: batched direct reads of the topic's
// subjects, then one tombstone per expired member, expecting the sequence
// read.
func (p *Presence) Members(ctx context.Context, topic string) (members, expired []presence.Member, err error) {
	err = p.do(ctx, "read", topic, func(ctx context.Context) error {
		members, expired = nil, nil
		now := time.Now()
		var gone []presence.Member
		var tombs []*natsgo.Msg
		filter := p.opts.Prefix + ".p." + token(topic) + ".*"
		for seq := uint64(0); ; {
			from := seq
			pending, err := directBatch(ctx, p.nc, p.opts.Stream, directRequest{Seq: seq, NextFor: filter, Batch: membersBatch}, func(m *natsgo.Msg, s uint64) error {
				seq = s + 1
				var v presenceValue
				if m.Header.Get(hdrLeft) != "" || json.Unmarshal(m.Data, &v) != nil {
					return nil
				}
				ts, err := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
				mb := presence.Member{ID: v.ID, Info: v.Info}
				if err == nil && now.After(ts.Add(time.Duration(v.TTL)*time.Millisecond)) {
					gone = append(gone, mb)
					tombs = append(tombs, p.tombstone(topic, v.ID, s))
					return nil
				}
				members = append(members, mb)
				return nil
			})
			if err != nil {
				return err
			}
			if pending == 0 || seq == from {
				break
			}
		}
		for i, err := range p.publishAll(ctx, tombs) {
			switch {
			case err == nil:
				expired = append(expired, gone[i])
			case errors.Is(err, errRevision):
				// renewed, left or claimed by another node meanwhile
			default:
				return err
			}
		}
		return nil
	})
	return members, expired, err
}
