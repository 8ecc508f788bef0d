package nats

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockline/sockline/history"
)

// DefaultHistoryStream starts the name of every topic's history stream,
// when HistoryOptions.Stream is empty.
const DefaultHistoryStream = "sockline-history"

// HistoryOptions configures a History.
type HistoryOptions struct {
	// Prefix is the Bus's Prefix: each message is stored on
	// Prefix.h.<topic>.<epoch> and republished by the server on
	// Prefix.t.<topic>, where the Bus's nodes subscribe. Empty means
	// DefaultPrefix.
	Prefix string
	// Stream starts the name of each topic's stream (Stream-<topic>):
	// letters, digits, - and _. Empty means DefaultHistoryStream.
	Stream string
	// Storage is where the streams keep their messages. The zero value is
	// jetstream.FileStorage; with jetstream.MemoryStorage a server restart
	// loses the history (then a new epoch starts: clients are told they
	// cannot recover, never given wrong messages).
	Storage jetstream.StorageType
	// Replicas is each stream's number of copies in a NATS cluster. Zero
	// means 1.
	Replicas int
}

// History is a history.Store on JetStream: one stream per topic, holding
// the topic's framed messages (history.Frame), limited by count (MaxMsgs)
// and age (MaxAge) as the publish's Bounds say. A message's offset is its
// sequence in the stream, and the stream's epoch is drawn when the stream
// is made and kept in its metadata; the stream's subject carries the epoch.
//
// Publish frames the message with the offset it expects (the stream's
// last sequence plus one) and sends it with that expectation
// (Nats-Expected-Last-Sequence): when another node published first, the
// server refuses it, and Publish reads the stream again and retries. The
// stream republishes each stored message on the Bus's subject for the
// topic (RePublish), in sequence order, before it acknowledges: so the
// offsets on the bus come in order, and every message on the bus is in the
// stream first, as history.Store asks.
//
// A stream lost (the server restarted without its data, or someone deleted
// it) is made again with a new epoch; a publisher that still holds the old
// epoch sends to the old epoch's subject, which no stream takes, and reads
// the stream again. A client holding an old position is told it cannot
// recover, never replayed the wrong messages.
//
// JetStream keeps a stream's last sequence after its messages aged out, so
// a topic keeps its position for as long as its stream exists, which is
// longer than Bounds.KeepPosition: Prune deletes the streams idle for
// longer. A message must fit the server's max_payload with its frame.
type History struct {
	nc     *natsgo.Conn
	js     jetstream.JetStream
	opts   HistoryOptions
	topics sync.Map // topic → *historyTopic
}

// historyTopic is what this process knows of one topic's stream; its lock
// orders this process's publishes to the topic, so that they do not
// compete with each other for the next offset.
type historyTopic struct {
	mu     sync.Mutex
	known  bool           // the fields below were read from the server
	epoch  string         // the stream's epoch
	last   uint64         // the stream's last sequence: the topic's offset
	bounds history.Bounds // the bounds the stream has, as this process set them
}

var _ history.Store = (*History)(nil)

// Metadata keys of a history stream.
const (
	metaEpoch = "sockline-epoch"
	metaKeep  = "sockline-keep-position"
	metaTTL   = "sockline-ttl"
)

// minMaxAge is the shortest MaxAge the server takes; a shorter TTL keeps
// the messages this long (a store keeps at least its bounds).
const minMaxAge = 100 * time.Millisecond

// publishAttempts bounds the retries of one Publish that other nodes keep
// beating to the next offset.
const publishAttempts = 100

var streamName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// NewHistory returns a History on nc; it talks to the server only when
// used, and holds no goroutine. The server needs JetStream (nats-server
// -js), 2.11 or later.
func NewHistory(nc *natsgo.Conn, opts HistoryOptions) (*History, error) {
	if nc == nil {
		return nil, errors.New("cluster: NewHistory needs a NATS connection (see Connect)")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !validSubject(opts.Prefix) {
		return nil, fmt.Errorf("cluster: HistoryOptions.Prefix %q is not a NATS subject: give dot-separated tokens without spaces, * or >", opts.Prefix)
	}
	if opts.Stream == "" {
		opts.Stream = DefaultHistoryStream
	}
	if !streamName.MatchString(opts.Stream) || len(opts.Stream) > 100 {
		return nil, fmt.Errorf("cluster: HistoryOptions.Stream %q: use at most 100 letters, digits, - and _", opts.Stream)
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: JetStream on the NATS connection: %w", err)
	}
	return &History{nc: nc, js: js, opts: opts}, nil
}

// History returns a History on the bus's connection and prefix, so that its
// streams republish on the subjects the bus subscribes to.
func (b *Bus) History(opts HistoryOptions) (*History, error) {
	opts.Prefix = strings.TrimSuffix(b.prefix, ".t.")
	return NewHistory(b.nc, opts)
}

// stream returns the name of topic's stream: Stream-<topic escaped>. The
// escape is token's with '/' (which stream names forbid) escaped too; a
// name too long for the server is a hash of the topic.
func (h *History) stream(topic string) string {
	name := h.opts.Stream + "-" + strings.ReplaceAll(token(topic), "/", "=2F")
	if len(name) > 255 {
		sum := sha256.Sum256([]byte(topic))
		name = h.opts.Stream + "-==" + hex.EncodeToString(sum[:])
	}
	return name
}

// subject is where topic's messages of epoch are stored.
func (h *History) subject(topic, epoch string) string {
	return h.opts.Prefix + ".h." + token(topic) + "." + epoch
}

// busSubject is the Bus's subject for topic (Bus.subject).
func (h *History) busSubject(topic string) string { return h.opts.Prefix + ".t." + token(topic) }

func (h *History) config(topic, epoch string, b history.Bounds) jetstream.StreamConfig {
	subj := h.subject(topic, epoch)
	return jetstream.StreamConfig{
		Name:        h.stream(topic),
		Description: "Sockline history of a topic",
		Subjects:    []string{subj},
		Storage:     h.opts.Storage,
		Replicas:    h.opts.Replicas,
		MaxMsgs:     int64(b.Size),
		MaxAge:      max(b.TTL, minMaxAge),
		Discard:     jetstream.DiscardOld,
		AllowDirect: true,
		RePublish:   &jetstream.RePublish{Source: subj, Destination: h.busSubject(topic)},
		Metadata:    map[string]string{metaEpoch: epoch, metaKeep: b.KeepPosition.String(), metaTTL: b.TTL.String()},
	}
}

// streamState is what Since and Publish read of a topic's stream.
type streamState struct {
	epoch       string
	first, last uint64 // sequences of the oldest and newest messages kept (first is last+1 when none)
	limits      streamLimits
}

// streamLimits are a stream's bounds as its configuration holds them.
type streamLimits struct {
	maxMsgs int64
	maxAge  time.Duration
	keep    string
	ttl     string
}

func limitsOf(b history.Bounds) streamLimits {
	return streamLimits{maxMsgs: int64(b.Size), maxAge: max(b.TTL, minMaxAge), keep: b.KeepPosition.String(), ttl: b.TTL.String()}
}

// ttlOr returns how old a message may be and still be replayed: the
// bounds' TTL, or d when the stream does not say. The server removes older
// messages on a timer of its own, a little later.
func (l streamLimits) ttlOr(d time.Duration) time.Duration {
	if ttl, err := time.ParseDuration(l.ttl); err == nil && ttl > 0 {
		return ttl
	}
	return d
}

// load reads topic's stream, making it with a new epoch and bounds b when
// it does not exist. With update, a stream whose limits are not b's takes
// them.
func (h *History) load(ctx context.Context, topic string, b history.Bounds, update bool) (streamState, error) {
	name := h.stream(topic)
	s, err := h.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = h.js.CreateStream(ctx, h.config(topic, history.NewEpoch(), b))
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another node made it first
			s, err = h.js.Stream(ctx, name)
		}
	}
	if err != nil {
		return streamState{}, fmt.Errorf("read the stream %s (is JetStream enabled on the server?): %w", name, err)
	}
	created := s.CachedInfo().Created
	st, err := h.state(topic, s.CachedInfo())
	if err != nil || !update || st.limits == limitsOf(b) {
		return st, err
	}
	s, err = h.js.UpdateStream(ctx, h.config(topic, st.epoch, b))
	if err != nil {
		return streamState{}, fmt.Errorf("set the limits of the stream %s: %w", name, err)
	}
	if !s.CachedInfo().Created.Equal(created) {
		// The stream was made again between the read and the update, which
		// gave it the epoch read: a history under another's epoch. Delete
		// it, so that the next use starts a new epoch.
		_ = h.js.DeleteStream(ctx, name)
		return streamState{}, fmt.Errorf("the stream %s was made again meanwhile", name)
	}
	return h.state(topic, s.CachedInfo())
}

// state reads a stream's info, checking it is topic's history stream.
func (h *History) state(topic string, info *jetstream.StreamInfo) (streamState, error) {
	epoch := info.Config.Metadata[metaEpoch]
	if epoch == "" || len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != h.subject(topic, epoch) {
		return streamState{}, fmt.Errorf("the stream %s is not Sockline's history of %q (another stream took its name?)", info.Config.Name, topic)
	}
	return streamState{
		epoch:  epoch,
		first:  info.State.FirstSeq,
		last:   info.State.LastSeq,
		limits: streamLimits{maxMsgs: info.Config.MaxMsgs, maxAge: info.Config.MaxAge, keep: info.Config.Metadata[metaKeep], ttl: info.Config.Metadata[metaTTL]},
	}, nil
}

// Publish implements history.Store: one request to the server when this
// process knows the topic's stream and no other node published on it
// since; otherwise the stream is read (or made) first.
func (h *History) Publish(ctx context.Context, topic string, payload []byte, b history.Bounds) (history.Position, error) {
	pos, err := h.publish(ctx, topic, payload, b.WithDefaults())
	if err != nil {
		return history.Position{}, fmt.Errorf("cluster: publish with history on %q: %w (is NATS reachable?)", topic, err)
	}
	return pos, nil
}

func (h *History) publish(ctx context.Context, topic string, payload []byte, b history.Bounds) (history.Position, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultWait)
		defer cancel()
	}
	if !h.nc.IsConnected() {
		return history.Position{}, fmt.Errorf("NATS connection %s: %w", h.nc.Status(), errNotConnected)
	}
	v, _ := h.topics.LoadOrStore(topic, &historyTopic{})
	t := v.(*historyTopic)
	t.mu.Lock()
	defer t.mu.Unlock()
	for attempt := 0; attempt < publishAttempts; attempt++ {
		if !t.known || t.bounds != b {
			st, err := h.load(ctx, topic, b, true)
			if err != nil {
				t.known = false
				return history.Position{}, err
			}
			t.known, t.epoch, t.last, t.bounds = true, st.epoch, st.last, b
		}
		pos := history.Position{Offset: t.last + 1, Epoch: t.epoch}
		m := natsgo.NewMsg(h.subject(topic, t.epoch))
		m.Data = history.Frame(pos, payload)
		m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(t.last, 10))
		if max := h.nc.MaxPayload(); int64(len(m.Data))+512 > max {
			return history.Position{}, fmt.Errorf("a message of %d bytes does not fit the server's max_payload (%d) with its position", len(payload), max)
		}
		seq, err := publishAck(ctx, h.nc, m)
		var wl wrongLast
		switch {
		case errors.As(err, &wl) && wl.last > t.last:
			// Another node published first: the answer says how far the
			// stream is, so the next attempt needs no read. (A last
			// sequence below ours means the stream was made again: read.)
			t.last = wl.last
			continue
		case errors.Is(err, errRevision), errors.Is(err, errNoStream):
			// Another node published first, or the stream is gone
			// (made again with another epoch, or not yet): read it again.
			t.known = false
			continue
		case err != nil:
			t.known = false // the message may be stored or not: read again
			return history.Position{}, err
		case seq != pos.Offset:
			t.known = false
			return history.Position{}, fmt.Errorf("the stream stored the message at %d, not %d", seq, pos.Offset)
		}
		t.last = seq
		return pos, nil
	}
	return history.Position{}, fmt.Errorf("other nodes published first %d times in a row", publishAttempts)
}

// sinceBatch is how many messages one read asks for; the server may send
// fewer (its byte limit), and Since asks again.
const sinceBatch = 1000

// Since implements history.Store: the stream's info (making the stream
// when there is none, so that the epoch it returns stays), then, when
// there is something to replay, the messages in batched direct reads.
func (h *History) Since(ctx context.Context, topic string, from history.Position, limit int) ([]history.Entry, history.Position, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultWait)
		defer cancel()
	}
	st, err := h.load(ctx, topic, history.Bounds{}.WithDefaults(), false)
	if err != nil {
		return nil, history.Position{}, fmt.Errorf("cluster: read the history of %q: %w (is NATS reachable?)", topic, err)
	}
	top := history.Position{Offset: st.last, Epoch: st.epoch}
	if from.Epoch != st.epoch || from.Offset >= st.last || st.last-from.Offset > uint64(limit) || st.first > from.Offset+1 {
		return nil, top, nil // another epoch, nothing new, too many, or trimmed
	}
	entries, err := h.read(ctx, topic, st, from.Offset+1)
	if err != nil {
		return nil, top, fmt.Errorf("cluster: read the history of %q: %w (is NATS reachable?)", topic, err)
	}
	return entries, top, nil
}

// read returns the messages of topic's stream from sequence seq to
// st.last. When they are not all there any more (trimmed meanwhile, older
// than the TTL, or the stream made again) it returns none: Recoverable
// says no.
func (h *History) read(ctx context.Context, topic string, st streamState, seq uint64) ([]history.Entry, error) {
	// The server's age check runs on a timer, so a message past its TTL
	// may still be there: the oldest one wanted is checked against the
	// TTL here (its server time stamp against this process's clock). It
	// is read alone with its headers; the rest without (the server rewrites
	// the headers of each message it sends, which costs more than the
	// messages), each one's frame telling its offset, its sequence.
	oldest := time.Now().Add(-st.limits.ttlOr(st.limits.maxAge))
	entries := make([]history.Entry, 0, st.last-seq+1)
	for seq <= st.last {
		first := len(entries) == 0
		req := directRequest{Seq: seq, Batch: int(min(st.last-seq+1, sinceBatch)), NoHeaders: !first}
		if first {
			req.Batch = 1
		}
		gap := false
		_, err := directBatch(ctx, h.nc, h.stream(topic), req, func(m *natsgo.Msg, _ uint64) error {
			if gap {
				return nil
			}
			e, err := history.ParseFrame(m.Data)
			if err != nil || e.Epoch != st.epoch || e.Offset != seq {
				gap = true // trimmed, or another epoch's
				return nil
			}
			if first {
				ts, err := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
				if err != nil || ts.Before(oldest) {
					gap = true // aged out
					return nil
				}
			}
			e.Payload = append([]byte(nil), e.Payload...)
			entries = append(entries, e)
			seq++
			return nil
		})
		switch {
		case errors.Is(err, errNoStream):
			return nil, nil // lost meanwhile
		case err != nil:
			return nil, err
		case gap || seq == req.Seq: // a message is missing, or the batch brought none
			return nil, nil
		}
	}
	return entries, nil
}

// Prune deletes the history streams, of this History's Stream name, whose
// topic has had no message for longer than its Bounds.KeepPosition: their
// topics start a new epoch when next used, as history.Bounds says. JetStream
// has no expiry of whole streams, so an application with many short-lived
// topics calls Prune now and then (every hour, say, from one node or all:
// it is idempotent). It returns how many streams it deleted.
func (h *History) Prune(ctx context.Context) (int, error) {
	n := 0
	lister := h.js.ListStreams(ctx, jetstream.WithStreamListSubject(h.opts.Prefix+".h.>"))
	for info := range lister.Info() {
		if !strings.HasPrefix(info.Config.Name, h.opts.Stream+"-") || info.Config.Metadata[metaEpoch] == "" {
			continue
		}
		keep, err := time.ParseDuration(info.Config.Metadata[metaKeep])
		if err != nil || keep <= 0 {
			continue
		}
		last := info.State.LastTime
		if last.IsZero() {
			last = info.Created
		}
		if time.Since(last) <= keep {
			continue
		}
		if err := h.js.DeleteStream(ctx, info.Config.Name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return n, fmt.Errorf("cluster: delete the idle history stream %s: %w", info.Config.Name, err)
		}
		n++
	}
	if err := lister.Err(); err != nil {
		return n, fmt.Errorf("cluster: list the history streams: %w", err)
	}
	return n, nil
}
