package history

import (
	"errors"
	"sync"
)

// DefaultMaxBuffered bounds the live messages a Cursor holds while it waits
// for its replay.
const DefaultMaxBuffered = 10000

// Errors a Cursor stops with.
var (
	// ErrGap: a live message came after one that never arrived (the bus
	// lost messages) or from another epoch (the history was lost): the
	// subscriber no longer has every message and must recover again.
	ErrGap = errors.New("history: a live message is missing (the bus dropped it or the history was lost): subscribe again from the last position to recover")
	// ErrBufferFull: more than MaxBuffered live messages arrived before
	// the replay.
	ErrBufferFull = errors.New("history: too many live messages arrived while the history was read: subscribe again")
)

// Cursor joins one subscriber's replay with the topic's live messages: it
// buffers live messages until Replay, then delivers each message once, in
// offset order. Deliver and Stop are called with the cursor's lock held,
// so calls never overlap and never come out of order: they must not block
// nor call the cursor back.
type Cursor struct {
	// Deliver receives each message in order. Required.
	Deliver func(Entry)
	// Stop is called once when the cursor stops delivering, with ErrGap or
	// ErrBufferFull. Nil means nothing is called.
	Stop func(error)
	// MaxBuffered bounds the live messages buffered before Replay. Zero
	// means DefaultMaxBuffered.
	MaxBuffered int

	mu      sync.Mutex
	live    bool
	stopped bool
	last    Position
	buf     []Entry
}

// Live hands the cursor one live message, framed or not as it came off the
// bus (see ParseFrame). Before Replay it is buffered; after, it is
// delivered unless it was already, and a missing one stops the cursor.
func (c *Cursor) Live(e Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	if !c.live {
		max := c.MaxBuffered
		if max <= 0 {
			max = DefaultMaxBuffered
		}
		if len(c.buf) >= max {
			c.stop(ErrBufferFull)
			return
		}
		c.buf = append(c.buf, e)
		return
	}
	c.next(e)
}

// next delivers e if it is the message after the last one. Called with
// c.mu held.
func (c *Cursor) next(e Entry) {
	switch {
	case e.Epoch == c.last.Epoch && e.Offset <= c.last.Offset:
		// delivered already (by the replay)
	case e.Epoch == c.last.Epoch && e.Offset == c.last.Offset+1:
		c.last = e.Position
		c.Deliver(e)
	default:
		c.stop(ErrGap)
	}
}

func (c *Cursor) stop(err error) {
	c.stopped = true
	c.buf = nil
	if c.Stop != nil {
		c.Stop(err)
	}
}

// Lost tells a live cursor that the messages up to top exist but cannot
// be delivered (too many were missed to read them back, or top is of
// another epoch): a cursor that has not delivered top stops with ErrGap.
// Unlike a live message, it never delivers anything. Before Replay it does
// nothing: the replay reads the store itself.
func (c *Cursor) Lost(top Position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || !c.live {
		return
	}
	if top.Epoch != c.last.Epoch || top.Offset > c.last.Offset {
		c.stop(ErrGap)
	}
}

// Replay delivers entries (what Store.Since read: the messages after the
// subscriber's position, or none to start at top), then the buffered live
// messages that come after them, and makes the cursor live at top or past
// it. It returns the position of the last message delivered, or top.
func (c *Cursor) Replay(entries []Entry, top Position) Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return top
	}
	c.live = true
	c.last = Position{Offset: top.Offset, Epoch: top.Epoch}
	if len(entries) > 0 {
		c.last.Offset = entries[0].Offset - 1
	}
	for _, e := range entries {
		c.next(e)
	}
	buf := c.buf
	c.buf = nil
	for _, e := range buf {
		if c.stopped {
			break
		}
		c.next(e)
	}
	return c.last
}

// Position returns the position of the last message delivered (after
// Replay).
func (c *Cursor) Position() Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
