package stomp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sockline/sockline/history"
)

// Headers of topic history, after RabbitMQ's streams (see HistoryConfig).
const (
	// HdrStreamOffset: on SUBSCRIBE, where to start ("first", "last",
	// "next" or "offset=N"); on MESSAGE, the message's offset.
	HdrStreamOffset = "x-stream-offset"
	// HdrStreamEpoch: on MESSAGE, the epoch its offset counts in; on
	// SUBSCRIBE with offset=N, the epoch of N (recover only from the same
	// stream).
	HdrStreamEpoch = "x-stream-epoch"
	// HdrStreamRecovered: on the RECEIPT of a SUBSCRIBE with offset=N and
	// on its first MESSAGE, "true" when every message from N on is
	// replayed, "false" when none is (the history no longer has them).
	HdrStreamRecovered = "x-stream-recovered"
)

// HistoryConfig keeps the recent messages of chosen topics of the
// built-in broker, so that a subscription can start from a position and
// get what it missed. With Config.Relay it does not apply: the external
// broker's own streams do (RabbitMQ's x-stream-offset).
type HistoryConfig struct {
	// Rules says which topic destinations keep history, and how much
	// ("/topic/*": every topic); the first matching rule applies. Every
	// node must have the same rules. Empty keeps no history.
	Rules []history.Rule
	// Store keeps the history. Nil means this process's memory
	// (history.NewMemory on Config.Bus); a cluster needs a store that
	// publishes on the cluster's bus (cluster/redis Bus.History()).
	Store history.Store
}

// maxLimit is the limit of reads that take whatever history is kept.
const maxLimit = math.MaxInt32

// historyBounds returns the bounds of key's history, if it keeps one.
func (b *broker) historyBounds(key string) (history.Bounds, bool) {
	if b.hist == nil || !b.isTopic(key) {
		return history.Bounds{}, false
	}
	return history.Match(b.histRules, key)
}

// streamStart is a SUBSCRIBE's x-stream-offset.
type streamStart struct {
	kind string // first, last, next, offset
	n    uint64
}

func parseStreamStart(v string) (streamStart, error) {
	switch v {
	case "first", "last", "next":
		return streamStart{kind: v}, nil
	}
	if s, ok := strings.CutPrefix(v, "offset="); ok {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return streamStart{kind: "offset", n: n}, nil
		}
	}
	return streamStart{}, fmt.Errorf("%s must be first, last, next or offset=N, not %q", HdrStreamOffset, v)
}

// subscribeHistory subscribes s, whose SUBSCRIBE has an x-stream-offset, to
// a topic with history: its live messages wait in a cursor while the
// history is read, then the cursor replays and goes live. It answers the
// receipt itself (with x-stream-recovered) and returns errWithheld, or an
// error.
func (c *conn) subscribeHistory(ctx context.Context, f *Frame, s *subscription, b history.Bounds) error {
	start, err := parseStreamStart(f.Header.Get(HdrStreamOffset))
	if err != nil {
		c.dropSub(s)
		return err
	}
	s.cur = &history.Cursor{
		Deliver: func(e history.Entry) { c.deliver(s, &message{tail: e.Payload, pos: e.Position}, false) },
		Stop: func(error) {
			go c.fail("subscription "+s.id+" missed messages: resubscribe from the last "+HdrStreamOffset+" to recover", "")
		},
	}
	br := c.srv.broker
	if err := br.subscribe(ctx, s); err != nil {
		c.dropSub(s)
		return appErr(f, s.dest, err)
	}
	entries, top, recovered, err := c.readHistory(ctx, s.key, start, f.Header.Get(HdrStreamEpoch), b)
	if err != nil {
		c.dropSub(s)
		br.unsubscribe(s)
		return appErr(f, s.dest, fmt.Errorf("%w: read the history of %s: %w", errBus, s.key, err))
	}
	c.mu.Lock()
	s.recovered = recovered
	c.mu.Unlock()
	if r, ok := f.Header.Lookup(HdrReceipt); ok {
		h := Header{{HdrReceiptID, r}}
		if recovered != "" {
			h.Add(HdrStreamRecovered, recovered)
		}
		c.sendFrame(&Frame{Command: CmdReceipt, Header: h})
	}
	s.cur.Replay(entries, top)
	return errWithheld
}

// readHistory reads what a subscription starting at start replays, and
// the position it goes live from; recovered is "true" or "false" for an
// offset=N start, "" for the others.
func (c *conn) readHistory(ctx context.Context, key string, start streamStart, epoch string, b history.Bounds) (entries []history.Entry, top history.Position, recovered string, err error) {
	store := c.srv.broker.hist
	if _, top, err = store.Since(ctx, key, history.Position{}, 0); err != nil {
		return nil, top, "", err
	}
	switch start.kind {
	case "first":
		entries, top, err = store.Since(ctx, key, history.Position{Epoch: top.Epoch}, maxLimit)
	case "last":
		if top.Offset > 0 {
			entries, top, err = store.Since(ctx, key, history.Position{Offset: top.Offset - 1, Epoch: top.Epoch}, maxLimit)
		}
	case "offset":
		if epoch == "" {
			epoch = top.Epoch
		}
		from := history.Position{Offset: max(start.n, 1) - 1, Epoch: epoch}
		entries, top, err = store.Since(ctx, key, from, b.Size)
		recovered = "false"
		if err == nil && history.Recoverable(from, entries, top) {
			recovered = "true"
		} else {
			entries = nil
		}
	}
	if err != nil {
		return nil, top, "", err
	}
	return entries, top, recovered, nil
}

// errHistoryPatterns: history needs each topic on its own bus channel.
var errHistoryPatterns = errors.New("stomp: Config.History does not work with Config.PatternSubscriptions (which carries every topic on one bus channel)")
