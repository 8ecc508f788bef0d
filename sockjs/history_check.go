package sockjs

import (
	"context"
	"time"

	"github.com/sockline/sockline/history"
)

// DefaultHistoryCheck is how often a cluster node compares its topics'
// positions with the store's, when HistoryOptions.CheckInterval is zero.
const DefaultHistoryCheck = 5 * time.Second

// checkInterval returns how often the node checks its topics; 0 for never.
func (x *historyHub) checkInterval() time.Duration {
	switch d := x.opts.CheckInterval; {
	case x.h.cl == nil || d < 0:
		return 0 // one node: its live messages cannot be lost on the way
	case d == 0:
		return DefaultHistoryCheck
	default:
		return d
	}
}

// startCheckLocked starts the loop that checks this node's topics, if it
// is not running. Called with x.mu held.
func (x *historyHub) startCheckLocked() {
	if x.checking || x.checkInterval() == 0 {
		return
	}
	x.checking = true
	go x.checkLoop(x.checkInterval())
}

// checkLoop finds messages the bus lost when no later message came to
// reveal the gap: a topic whose store position stays ahead of the last
// message this node got, for two checks in a row, gets the missing
// messages from the store, delivered as live ones (cursors drop what they
// already have). It ends when the node has no topic with history left, or
// stops.
func (x *historyHub) checkLoop(every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-x.h.cl.done:
			x.mu.Lock()
			x.checking = false
			x.mu.Unlock()
			return
		}
		x.mu.Lock()
		if len(x.topics) == 0 {
			x.checking = false
			x.mu.Unlock()
			return
		}
		type checked struct {
			name string
			t    *historyTopic
			seen Position
		}
		var topics []checked
		for name, t := range x.topics {
			topics = append(topics, checked{name, t, t.seen})
		}
		x.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		for _, c := range topics {
			x.checkTopic(ctx, c.name, c.t, c.seen)
		}
		cancel()
	}
}

func (x *historyHub) checkTopic(ctx context.Context, topic string, t *historyTopic, seen Position) {
	if seen.Epoch == "" {
		return // no position yet: the first subscriber has not read one
	}
	_, top, err := x.store.Since(ctx, x.storeTopic(topic), Position{}, 0)
	if err != nil {
		return // the store is away; the next check tries again
	}
	if top.Epoch == seen.Epoch && top.Offset <= seen.Offset {
		t.behind = Position{}
		return
	}
	if t.behind != top {
		t.behind = top // may be on its way: look again at the next check
		return
	}
	var missing []history.Entry
	if top.Epoch == seen.Epoch {
		b, _ := x.bounds(topic)
		missing, _, err = x.store.Since(ctx, x.storeTopic(topic), seen, b.Size)
		if err != nil {
			// Not "too many": a slow or absent store says nothing about a
			// gap, and a gap marker would close every session behind top.
			return // t.behind stays: the next check reads again
		}
	}
	t.behind = Position{}
	x.h.cl.fanOut(func() {
		if len(missing) == 0 {
			// Too many, or another epoch (the history was lost): every
			// cursor short of top has a gap.
			x.lost(topic, top)
			return
		}
		for _, e := range missing {
			x.deliver(topic, e)
		}
	})
}

// lost tells the topic's cursors on this node that the messages up to top
// cannot be delivered (see history.Cursor.Lost).
func (x *historyHub) lost(topic string, top Position) {
	x.mu.Lock()
	t := x.topics[topic]
	if t == nil {
		x.mu.Unlock()
		return
	}
	if top.Epoch != t.seen.Epoch || top.Offset > t.seen.Offset {
		t.seen = top
	}
	subs := make([]*historySub, 0, len(t.subs))
	for sub := range t.subs {
		subs = append(subs, sub)
	}
	x.mu.Unlock()
	for _, sub := range subs {
		sub.cur.Lost(top)
	}
}
