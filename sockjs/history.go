package sockjs

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/history"
)

// Position is where a message sits in a topic's history: an offset and the
// epoch it counts in (see package history). Its String form, "12@3f9a",
// is what a client hands back to recover; ParsePosition reads it.
type Position = history.Position

// ParsePosition reads a position written by Position.String, as a client
// sends it back.
func ParsePosition(s string) (Position, error) { return history.ParsePosition(s) }

// CloseHistoryGap (3010) closes a session whose subscription with history
// missed a live message (the cluster's bus dropped it, or the history was
// lost), when HistoryOptions.OnGap is nil: the client reconnects and
// recovers from its last position.
const CloseHistoryGap = 3010

// HistoryOptions keeps the recent messages of chosen topics, so that a
// session can subscribe from a position and get what it missed
// (Handler.SubscribeWith). The zero value keeps no history.
type HistoryOptions struct {
	// Rules says which topics keep history, and how much; the first rule
	// whose pattern matches a topic applies. Every node of a cluster must
	// have the same rules. Empty means no topic keeps history.
	Rules []history.Rule
	// Store keeps the history. Nil means in this process's memory
	// (history.NewMemory); a cluster needs a store shared by its nodes
	// that publishes on the cluster's Bus (cluster/redis.NewHistory with
	// the Bus's Prefix).
	Store history.Store
	// Encode makes what the sessions of a history topic receive from a
	// message and its position, once per message and node: the way to
	// hand positions to clients (say, a JSON object with both). Nil sends
	// the message as it was published.
	Encode func(topic string, pos Position, msg string) string
	// OnGap is told when a session's subscription can no longer deliver
	// every message in order (history.ErrGap, history.ErrBufferFull); the
	// subscription has ended. It runs on a goroutine of its own. Nil closes
	// the session with CloseHistoryGap, so that the client reconnects and
	// recovers.
	OnGap func(s *Session, topic string, err error)
	// CheckInterval is how often, in a cluster, each node compares the
	// position of its topics with the store's, to find messages its bus
	// lost when no later message came to reveal the gap; they are then
	// delivered from the store. Zero means DefaultHistoryCheck (5 s);
	// negative turns the check off.
	CheckInterval time.Duration
}

// ErrNoHistory is returned by PublishWithPosition for a topic that no
// HistoryOptions rule matches.
var ErrNoHistory = errors.New("sockjs: the topic keeps no history (add a rule to Options.History.Rules)")

// SubscribeOptions tunes Handler.SubscribeWith.
type SubscribeOptions struct {
	// Since, when set, asks for every message of the topic after this
	// position (one the client got with its last message), replayed
	// before the live ones. Nil starts with the next message.
	Since *Position
}

// Subscription is a session's subscription to a topic with history.
type Subscription struct {
	// Unsubscribe ends the subscription; it is idempotent.
	Unsubscribe func()
	// Recovered reports that Since was given and every message after it
	// was queued for the session, in order. False with Since means it
	// could not be (the position is older than the history kept, or of
	// another epoch: the history was lost): nothing was replayed, never a
	// part, and the application should send the client its state afresh.
	Recovered bool
	// Replayed is how many messages were replayed.
	Replayed int
	// Position is where the session stands once the replay is queued:
	// its last message's position, or the topic's when it got none. Hand
	// it to the client, which keeps the latest position it has seen.
	Position Position
}

// historyHub holds this node's subscriptions to topics with history.
type historyHub struct {
	h      *Handler
	store  history.Store
	opts   HistoryOptions
	seed   maphash.Seed
	pubMus [32]sync.Mutex // one node: a topic's append and fan-out happen together

	mu       sync.Mutex
	topics   map[string]*historyTopic
	checking bool // checkLoop runs (history_check.go)
}

// historyTopic is one topic with history on this node; ready and err as
// in topicEntry.
type historyTopic struct {
	subs   map[*historySub]struct{}
	ready  chan struct{}
	err    error
	cancel func()
	last   atomic.Pointer[encodedEntry] // the last message encoded, shared by the fan-out
	seen   Position                     // the last live message this node got (x.mu)
	behind Position                     // the store's position at the last check, when ahead (checkLoop only)
}

type encodedEntry struct {
	pos Position
	m   Message
}

// historySub is one session's subscription.
type historySub struct {
	s     *Session
	topic string
	t     *historyTopic
	cur   history.Cursor
}

func (x *historyHub) init(h *Handler) {
	x.h = h
	x.opts = h.opts.History
	x.store = x.opts.Store
	if x.store == nil {
		x.store = history.NewMemory(nil)
	}
	x.seed = maphash.MakeSeed()
	x.topics = make(map[string]*historyTopic)
}

// bounds returns the history bounds of topic, when it keeps history.
func (x *historyHub) bounds(topic string) (history.Bounds, bool) {
	if len(x.opts.Rules) == 0 {
		return history.Bounds{}, false
	}
	return history.Match(x.opts.Rules, topic)
}

// storeTopic is topic's name in the store: the bus topic in a cluster, so
// that the store publishes where the nodes subscribe.
func (x *historyHub) storeTopic(topic string) string {
	if x.h.cl != nil {
		return x.h.cl.topic(topic)
	}
	return topic
}

// PublishWithPosition publishes msg to a topic that keeps history (see
// Options.History) and returns its position. Publish does the same and
// drops the position. It fails with ErrNoHistory for another topic, and
// when the store refuses the message (then no session gets it).
func (h *Handler) PublishWithPosition(ctx context.Context, topic, msg string) (Position, error) {
	if topic == "" {
		return Position{}, ErrEmptyTopic
	}
	b, ok := h.topics.hist.bounds(topic)
	if !ok {
		return Position{}, ErrNoHistory
	}
	return h.topics.hist.publish(ctx, topic, msg, b)
}

func (x *historyHub) publish(ctx context.Context, topic, msg string, b history.Bounds) (Position, error) {
	if x.h.cl != nil {
		// The store publishes on the bus; every node's subscription delivers.
		pos, err := x.store.Publish(ctx, x.storeTopic(topic), []byte(msg), b)
		if err != nil {
			return pos, fmt.Errorf("sockjs: publish to %q: %w", topic, err)
		}
		return pos, nil
	}
	mu := &x.pubMus[maphash.String(x.seed, topic)%uint64(len(x.pubMus))]
	mu.Lock()
	defer mu.Unlock()
	pos, err := x.store.Publish(ctx, topic, []byte(msg), b)
	if err != nil {
		return pos, fmt.Errorf("sockjs: publish to %q: %w", topic, err)
	}
	x.deliver(topic, history.Entry{Position: pos, Payload: []byte(msg)})
	return pos, nil
}

// deliver hands a live message to the topic's cursors on this node.
func (x *historyHub) deliver(topic string, e history.Entry) {
	x.mu.Lock()
	t := x.topics[topic]
	if t == nil {
		x.mu.Unlock()
		return
	}
	if e.Epoch != t.seen.Epoch || e.Offset > t.seen.Offset {
		t.seen = e.Position
	}
	subs := make([]*historySub, 0, len(t.subs))
	for sub := range t.subs {
		subs = append(subs, sub)
	}
	x.mu.Unlock()
	for _, sub := range subs {
		sub.cur.Live(e)
	}
}

// encode returns the message sessions get for e, encoded once: the live
// fan-out delivers one entry to every cursor in a row.
func (x *historyHub) encode(t *historyTopic, topic string, e history.Entry) Message {
	if last := t.last.Load(); last != nil && last.pos == e.Position {
		return last.m
	}
	msg := string(e.Payload)
	if x.opts.Encode != nil {
		msg = x.opts.Encode(topic, e.Position, msg)
	}
	m := NewMessage(msg)
	t.last.Store(&encodedEntry{pos: e.Position, m: m})
	return m
}

// SubscribeWith is Subscribe for a topic that keeps history (see
// Options.History), from a position: every message after opts.Since is
// queued for s first, then the live ones, with no gap and no duplicate
// between them. When that cannot be (Recovered false) nothing is
// replayed and the subscription goes on live. For a topic without history
// it is Subscribe, and Since is ignored. The subscription ends as
// Subscribe's does.
func (h *Handler) SubscribeWith(ctx context.Context, s *Session, topic string, opts SubscribeOptions) (*Subscription, error) {
	if topic == "" {
		return nil, ErrEmptyTopic
	}
	b, ok := h.topics.hist.bounds(topic)
	if !ok {
		un, err := h.topics.subscribe(ctx, s, topic)
		if err != nil {
			return nil, err
		}
		return &Subscription{Unsubscribe: un}, nil
	}
	return h.topics.hist.subscribe(ctx, s, topic, opts.Since, b)
}

func (x *historyHub) subscribe(ctx context.Context, s *Session, topic string, since *Position, b history.Bounds) (*Subscription, error) {
	if err := s.s.Err(); err != nil {
		return nil, err
	}
	sub := &historySub{s: s, topic: topic}
	x.mu.Lock()
	t := x.topics[topic]
	first := t == nil
	if first {
		t = &historyTopic{subs: make(map[*historySub]struct{}), ready: make(chan struct{})}
		x.topics[topic] = t
		if x.h.cl == nil {
			close(t.ready)
		}
		x.startCheckLocked()
	}
	sub.t = t
	sub.cur.Deliver = func(e history.Entry) { _ = s.SendMessage(x.encode(t, topic, e)) }
	t.subs[sub] = struct{}{}
	x.mu.Unlock()

	stopWatch := func() bool { return false }
	unsubscribe := sync.OnceFunc(func() {
		stopWatch()
		x.remove(sub)
	})
	sub.cur.Stop = func(err error) {
		go func() {
			unsubscribe()
			if x.opts.OnGap != nil {
				x.opts.OnGap(s, topic, err)
				return
			}
			_ = s.Close(CloseHistoryGap, "missed a message: reconnect to recover")
		}()
	}
	stopWatch = context.AfterFunc(s.Context(), unsubscribe)
	if first && x.h.cl != nil {
		x.subscribeNode(ctx, topic, t)
	}
	select {
	case <-t.ready:
	case <-ctx.Done():
		unsubscribe()
		return nil, ctx.Err()
	}
	if t.err != nil {
		unsubscribe()
		return nil, fmt.Errorf("sockjs: subscribe to %q: %w", topic, t.err)
	}
	// Live messages now reach the cursor; read what came before.
	from, limit := Position{}, 0
	if since != nil {
		from, limit = *since, b.Size
	}
	entries, top, err := x.store.Since(ctx, x.storeTopic(topic), from, limit)
	if err != nil {
		unsubscribe()
		return nil, fmt.Errorf("sockjs: read the history of %q: %w", topic, err)
	}
	x.mu.Lock()
	if t.seen.Epoch == "" {
		t.seen = top // what the node has, as far as it knows
	}
	x.mu.Unlock()
	res := &Subscription{Unsubscribe: unsubscribe}
	if since != nil && history.Recoverable(from, entries, top) {
		res.Recovered, res.Replayed = true, len(entries)
	} else {
		entries = nil
	}
	res.Position = sub.cur.Replay(entries, top)
	return res, nil
}

// subscribeNode subscribes the node to topic's bus messages, for its first
// subscriber; as topicHub.subscribe does.
func (x *historyHub) subscribeNode(ctx context.Context, topic string, t *historyTopic) {
	cl := x.h.cl
	cancel, err := cl.cfg.Bus.Subscribe(ctx, cl.topic(topic), func(_ string, p []byte) {
		e, err := history.ParseFrame(p)
		if err != nil {
			x.h.opts.Logger.Warn("sockline: a message without position on a topic with history was dropped (do all nodes have the same Options.History.Rules?)", "topic", topic)
			return
		}
		e.Payload = append([]byte(nil), e.Payload...)
		cl.fanOut(func() { x.deliver(topic, e) })
	})
	x.mu.Lock()
	t.err, t.cancel = err, cancel
	if err != nil && x.topics[topic] == t {
		delete(x.topics, topic)
	}
	orphan := err == nil && len(t.subs) == 0
	if orphan && x.topics[topic] == t {
		delete(x.topics, topic)
	}
	close(t.ready)
	x.mu.Unlock()
	if orphan {
		cancel()
	}
}

// remove ends sub; the topic's last one ends the node's bus subscription.
func (x *historyHub) remove(sub *historySub) {
	x.mu.Lock()
	t := sub.t
	var cancel func()
	delete(t.subs, sub)
	if len(t.subs) == 0 && x.topics[sub.topic] == t {
		select {
		case <-t.ready:
			cancel = t.cancel
			delete(x.topics, sub.topic)
		default: // still subscribing: subscribeNode cancels the orphan
		}
	}
	x.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}
