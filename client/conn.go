package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"
)

// Conn is an open SockJS session. Send, Recv, Flush and Close are safe
// for concurrent use.
type Conn struct {
	name string
	tr   transport
	o    Options

	mu         sync.Mutex
	inbox      []string
	inboxBytes int
	outbox     [][]byte
	outBytes   int
	queued     uint64        // messages ever queued
	sent       uint64        // messages the server has accepted
	flushed    chan struct{} // closed and replaced whenever sent grows
	err        *CloseError   // set once, when the session ends

	recvWake  chan struct{} // a message arrived or the session ended
	spaceWake chan struct{} // Recv made room in the inbox
	sendWake  chan struct{} // the outbox has messages
	done      chan struct{} // closed when the session ends
	live      *time.Timer   // HeartbeatTimeout; nil when disabled
	wg        sync.WaitGroup
}

func newConn(name string, tr transport, o Options) *Conn {
	c := &Conn{
		name:      name,
		tr:        tr,
		o:         o,
		flushed:   make(chan struct{}),
		recvWake:  make(chan struct{}, 1),
		spaceWake: make(chan struct{}, 1),
		sendWake:  make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if o.HeartbeatTimeout > 0 {
		c.live = time.AfterFunc(o.HeartbeatTimeout, func() {
			c.end(&CloseError{Code: codeBroken, Reason: "Server silent",
				Err: fmt.Errorf("%w: nothing from the server for %v (HeartbeatTimeout)", ErrTimeout, o.HeartbeatTimeout)}, false)
		})
	}
	tr.onAlive(c.alive)
	c.wg.Add(2)
	go c.readLoop()
	go c.sendLoop()
	return c
}

// Transport returns the name of the transport in use: "websocket",
// "xhr-streaming", "eventsource" or "xhr-polling".
func (c *Conn) Transport() string { return c.name }

// Send queues msg and returns at once; the sender goroutine delivers
// everything queued in one request or websocket message, in order, while
// the previous one is in flight (as sockjs-client batches). It returns the
// session's *CloseError once the session has ended, and ErrQueueFull past
// Options.MaxQueuedBytes. Use Flush to wait until the server has taken
// what is queued.
func (c *Conn) Send(msg string) error {
	q := quote(msg)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	if c.outBytes > 0 && c.outBytes+len(q) > c.o.MaxQueuedBytes {
		c.mu.Unlock()
		return ErrQueueFull
	}
	c.outbox = append(c.outbox, q)
	c.outBytes += len(q)
	c.queued++
	c.mu.Unlock()
	wake(c.sendWake)
	return nil
}

// Flush waits until the server has accepted every message queued before
// the call (the xhr_send answered, the websocket write done). It returns
// the session's *CloseError if the session ends first, or ctx's error.
func (c *Conn) Flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.queued
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sent, w, err := c.sent, c.flushed, c.err
		c.mu.Unlock()
		if sent >= target {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w:
		case <-c.done:
		}
	}
}

// Recv returns the next message from the server. Once the session has
// ended and every message received before has been read, it returns the
// *CloseError saying why (errors.Is: ErrServerClosed, ErrClosed,
// ErrTransport, ErrTimeout). It returns ctx's error if ctx ends first.
func (c *Conn) Recv(ctx context.Context) (string, error) {
	for {
		c.mu.Lock()
		if len(c.inbox) > 0 {
			msg := c.inbox[0]
			c.inbox[0] = ""
			c.inbox = c.inbox[1:]
			c.inboxBytes -= len(msg)
			more := len(c.inbox) > 0
			c.mu.Unlock()
			wake(c.spaceWake)
			if more {
				wake(c.recvWake) // for another goroutine waiting in Recv
			}
			return msg, nil
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return "", err
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-c.recvWake:
		case <-c.done:
		}
	}
}

// Close ends the session with code and reason and waits for the
// connection's goroutines to end. Over websocket the server gets a close
// frame with them; the HTTP transports have no way to say it, so the
// server sees the client go away (1002 "Connection interrupted"), as with
// sockjs-client. Messages still queued are dropped: call Flush first to
// deliver them. Close returns nil, or the *CloseError of a session that had
// already ended.
//
// code must be 1000 or 3000-4999, the codes sockjs-client's close accepts
// (1001-2999 belong to the WebSocket and SockJS protocols), and reason at
// most 123 bytes, all a websocket close frame holds. Close never leaves
// the session open, so that a deferred Close always releases it: with any
// other code (1001 "going away" included) it closes with 1000 instead,
// with a longer reason it sends the reason cut at 123 bytes (on a UTF-8
// boundary), and it returns an error saying so.
func (c *Conn) Close(code int, reason string) error {
	var refused []error
	if code != codeNormal && (code < 3000 || code > 4999) {
		refused = append(refused, fmt.Errorf("client: close code %d refused, the session was closed with 1000: use 1000 or 3000-4999 (codes 1001-2999 belong to the WebSocket and SockJS protocols)", code))
		code = codeNormal
	}
	if len(reason) > maxReasonBytes {
		n := maxReasonBytes
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		refused = append(refused, fmt.Errorf("client: close reason of %d bytes cut to its first %d: at most %d fit a websocket close frame", len(reason), n, maxReasonBytes))
		reason = reason[:n]
	}
	first := c.end(&CloseError{Code: code, Reason: reason, Err: ErrClosed}, true)
	c.wg.Wait()
	if len(refused) > 0 {
		return errors.Join(refused...)
	}
	if first {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// maxReasonBytes is the longest close reason: a websocket control frame
// carries 125 bytes, two of them the code.
const maxReasonBytes = 123

// end records why the session ended, the first time, and stops the
// transport (telling the server with a close frame when tell is set).
func (c *Conn) end(err *CloseError, tell bool) bool {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return false
	}
	c.err = err
	c.outbox, c.outBytes = nil, 0
	c.mu.Unlock()
	if c.live != nil {
		c.live.Stop()
	}
	close(c.done)
	if tell {
		c.tr.closeWith(err.Code, err.Reason)
	} else {
		c.tr.abort()
	}
	return true
}

// alive renews the heartbeat timeout.
func (c *Conn) alive() {
	select {
	case <-c.done:
		return // stopped for good; do not re-arm
	default:
	}
	if c.live != nil {
		c.live.Reset(c.o.HeartbeatTimeout)
	}
}

// readLoop is the one reader of the transport.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	for {
		f, err := c.tr.next()
		if err != nil {
			if !errors.Is(err, errAborted) {
				c.end(&CloseError{Code: codeBroken, Reason: "Transport failed", Err: transportError(c.name, err)}, false)
			}
			return
		}
		c.alive()
		switch f.kind {
		case frameHeartbeat:
		case frameOpen:
			// A second "o": the server forgot the session (restarted?).
			c.end(&CloseError{Code: codeBroken, Reason: "Server lost session",
				Err: transportError(c.name, errors.New("the server opened the session again"))}, false)
			return
		case frameClose:
			c.end(&CloseError{Code: f.code, Reason: f.reason, Err: ErrServerClosed}, false)
			return
		case frameMessages:
			if !c.deliver(f.msgs) {
				return
			}
		}
	}
}

// deliver adds msgs to the inbox and waits while the inbox is over its
// bound. It reports false when the session ended meanwhile.
func (c *Conn) deliver(msgs []string) bool {
	n := 0
	for _, m := range msgs {
		n += len(m)
	}
	c.mu.Lock()
	c.inbox = append(c.inbox, msgs...)
	c.inboxBytes += n
	c.mu.Unlock()
	wake(c.recvWake)
	for {
		c.mu.Lock()
		over := c.inboxBytes > c.o.MaxInboxBytes
		c.mu.Unlock()
		if !over {
			return true
		}
		// Not reading is this side's choice: the server's silence meanwhile
		// is no sign of death.
		if c.live != nil {
			c.live.Stop()
		}
		select {
		case <-c.done:
			return false
		case <-c.spaceWake:
			c.alive()
		}
	}
}

// sendLoop is the one sender: each round takes everything queued and
// delivers it as one batch.
func (c *Conn) sendLoop() {
	defer c.wg.Done()
	var buf []byte
	for {
		select {
		case <-c.done:
			return
		case <-c.sendWake:
		}
		c.mu.Lock()
		batch := c.takeBatch()
		more := len(c.outbox) > 0
		c.mu.Unlock()
		if more {
			wake(c.sendWake)
		}
		if len(batch) == 0 {
			continue
		}
		buf = appendBatch(buf[:0], batch)
		ctx, cancel := context.WithTimeout(context.Background(), c.o.WriteTimeout)
		err := c.tr.send(ctx, buf)
		cancel()
		if err != nil {
			if !errors.Is(err, errAborted) {
				if errors.Is(err, context.DeadlineExceeded) {
					err = fmt.Errorf("%w: a send took longer than WriteTimeout (%v): %w", ErrTimeout, c.o.WriteTimeout, err)
				}
				c.end(&CloseError{Code: codeBroken, Reason: "Sending error", Err: transportError(c.name, err)}, false)
			}
			return
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not pin the largest batch ever sent
		}
		c.mu.Lock()
		c.sent += uint64(len(batch))
		close(c.flushed)
		c.flushed = make(chan struct{})
		c.mu.Unlock()
	}
}

// maxBatchBytes bounds one send, below the 1 MiB that servers commonly
// accept in one xhr_send body or websocket message; a single larger
// message still goes alone.
const maxBatchBytes = 256 << 10

// takeBatch removes from the outbox the messages of the next send: as
// many as fit maxBatchBytes, at least one. c.mu must be held.
func (c *Conn) takeBatch() [][]byte {
	n, size := 0, 0
	for n < len(c.outbox) && (n == 0 || size+len(c.outbox[n]) <= maxBatchBytes) {
		size += len(c.outbox[n])
		n++
	}
	batch := c.outbox[:n:n]
	c.outbox = c.outbox[n:]
	if len(c.outbox) == 0 {
		c.outbox = nil
	}
	c.outBytes -= size
	return batch
}

// wake signals a channel of capacity one without blocking.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
