package session

import (
	"context"
	"time"
)

// inbox holds messages received from the client until the application reads
// them. It shares the session's mutex.
//
// Two kinds of producers fill it. A websocket's reader goroutine calls
// Deliver, one message at a time, and simply waits for room: the socket
// pushes back on the client meanwhile. HTTP sends (xhr_send, jsonp_send)
// go through BeginSend: one at a time per session (the send slot), with
// room reserved before their body is read and their messages appended all
// at once, so that a client firing many sends in parallel holds at most
// one body in the server's memory and never gets half a send delivered.
type inbox struct {
	in       []string // unread messages are in[inHead:]
	inHead   int
	inBytes  int
	reserved int           // room promised to the send holding the slot
	readyC   chan struct{} // a token: messages may be waiting
	spaceC   chan struct{} // a token: room may have been made
	done     chan struct{} // closed when the session closes
	sendSlot chan struct{} // holds a token while an HTTP send is in progress
}

func (b *inbox) init() {
	b.readyC = make(chan struct{}, 1)
	b.spaceC = make(chan struct{}, 1)
	b.done = make(chan struct{})
	b.sendSlot = make(chan struct{}, 1)
}

func (b *inbox) closeLocked() { close(b.done) }

// fitsLocked reports whether n more bytes fit in the inbox: within the
// limit, or into an empty one (so that a message or send larger than the
// limit is not refused for ever; it waits until the application has read
// everything before it).
func (b *inbox) fitsLocked(limit, n int) bool {
	used := b.inBytes + b.reserved
	return limit <= 0 || used == 0 || used+n <= limit
}

// inboxCost is what a message counts against Config.MaxInboxBytes: its
// bytes plus its string header, so that a flood of empty messages is
// bounded too.
func inboxCost(m string) int { return len(m) + 16 }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Deliver hands messages from the client to the application, in order,
// one at a time: the websocket transports use it. When the inbox is over
// Config.MaxInboxBytes it waits for the application to read, for ctx, or
// for the session to close. Messages sent to a closed session are dropped
// and its CloseError returned. HTTP sends use BeginSend instead.
func (s *Session) Deliver(ctx context.Context, msgs []string) error {
	for _, m := range msgs {
		err := s.waitRoom(ctx, inboxCost(m), 0, func() { s.appendLocked(m) })
		if err != nil {
			return err
		}
	}
	return nil
}

// maxKeptInbox bounds the inbox array an emptied inbox keeps for its next
// messages (1 KiB of string headers): 100k idle sessions must not each
// keep the array of the largest burst they ever received.
const maxKeptInbox = 64

// appendLocked adds m to the inbox.
func (s *Session) appendLocked(m string) {
	if len(s.in) == cap(s.in) && s.inHead >= len(s.in)/2 {
		// Full, but at least half read: slide the unread part to the
		// front rather than grow (amortized O(1): half the array is free).
		n := copy(s.in, s.in[s.inHead:])
		clear(s.in[n:])
		s.in, s.inHead = s.in[:n], 0
	}
	s.in = append(s.in, m)
	s.inBytes += inboxCost(m)
}

// waitRoom waits until n bytes fit in the inbox, then calls take with the
// session's mutex held. It gives up when ctx ends (returning its error),
// when the session closes (returning the CloseError), or, with a positive
// timeout, when it has waited that long: then it closes the session with
// CodeSendTimeout and ErrSendTimeout, so that the client learns its
// messages were not taken rather than losing them silently.
func (s *Session) waitRoom(ctx context.Context, n int, timeout time.Duration, take func()) error {
	var expired <-chan time.Time
	for {
		s.mu.Lock()
		if s.closeErr != nil {
			err := s.closeErr
			s.mu.Unlock()
			return err
		}
		if s.fitsLocked(s.cfg.MaxInboxBytes, n) {
			take()
			s.mu.Unlock()
			signal(s.readyC)
			return nil
		}
		s.mu.Unlock()
		if expired == nil && timeout > 0 { // the timer only when waiting
			t := time.NewTimer(timeout)
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-s.spaceC:
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		case <-expired:
			s.mu.Lock()
			s.closeLocked(&CloseError{Code: CodeSendTimeout, Reason: ReasonSendTimeout, Cause: ErrSendTimeout})
			err := s.closeErr
			s.mu.Unlock()
			return err
		}
	}
}

// The close code and reason of a session whose application did not take a
// send's messages within Config.SendTimeout. 1013 is WebSocket's "try
// again later": the server is overloaded for now.
const (
	CodeSendTimeout   = 1013
	ReasonSendTimeout = "Server did not take messages in time"
)

// Send is one HTTP send (an xhr_send or jsonp_send request) in progress:
// it holds the session's send slot and room reserved in the inbox. Get one
// with BeginSend, deliver its messages with Deliver, and always call End.
type Send struct {
	s        *Session
	reserved int
	ended    bool
}

// BeginSend starts an HTTP send whose body is at most size bytes, before
// the body is read. First it takes the session's send slot, waiting for a
// send in progress to end: sends are delivered one at a time and never
// interleave (sockjs-client keeps only one in flight anyway). A send that
// cannot take the slot within Config.SendTimeout gets ErrSendBusy and the
// session is left as it is. Then it reserves room for size bytes in the
// inbox, waiting for the application to read; if that takes longer than
// Config.SendTimeout the session is closed with CodeSendTimeout and
// ErrSendTimeout, whose *CloseError is returned. A closed session returns
// its *CloseError, and ctx's end its error.
func (s *Session) BeginSend(ctx context.Context, size int) (*Send, error) {
	select {
	case s.sendSlot <- struct{}{}:
	default:
		if err := s.waitSlot(ctx); err != nil {
			return nil, err
		}
	}
	p := &Send{s: s}
	err := s.waitRoom(ctx, size, s.cfg.SendTimeout, func() {
		s.reserved += size
		p.reserved = size
	})
	if err != nil {
		p.End()
		return nil, err
	}
	return p, nil
}

// waitSlot waits for the send slot, at most Config.SendTimeout.
func (s *Session) waitSlot(ctx context.Context) error {
	var expired <-chan time.Time
	if s.cfg.SendTimeout > 0 {
		t := time.NewTimer(s.cfg.SendTimeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case s.sendSlot <- struct{}{}:
		return nil
	case <-s.done:
		return s.Err()
	case <-ctx.Done():
		return ctx.Err()
	case <-expired:
		return ErrSendBusy
	}
}

// Deliver hands the send's messages to the application, all of them or
// none: in one step, once they fit in the inbox (the room reserved by
// BeginSend usually covers them; messages that cost more than their body's
// size, such as many tiny ones, may need more). It waits for room as
// BeginSend does, with the same timeout and errors. After an error none of
// the messages is delivered.
func (p *Send) Deliver(ctx context.Context, msgs []string) error {
	cost := 0
	for _, m := range msgs {
		cost += inboxCost(m)
	}
	p.release()
	return p.s.waitRoom(ctx, cost, p.s.cfg.SendTimeout, func() {
		for _, m := range msgs {
			p.s.appendLocked(m)
		}
	})
}

// release gives back the room the send reserved.
func (p *Send) release() {
	if p.reserved == 0 {
		return
	}
	p.s.mu.Lock()
	p.s.reserved -= p.reserved
	p.reserved = 0
	p.s.mu.Unlock()
	signal(p.s.spaceC)
}

// End gives back the send slot and any room still reserved. It may be
// called more than once.
func (p *Send) End() {
	if p.ended {
		return
	}
	p.ended = true
	p.release()
	<-p.s.sendSlot
}

// Recv returns the next message from the client. Messages that arrived
// before the session closed are still returned; after them Recv returns the
// session's *CloseError. It returns ctx's error if ctx ends first.
func (s *Session) Recv(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		if s.inHead < len(s.in) {
			m := s.in[s.inHead]
			s.in[s.inHead] = ""
			s.inHead++
			if s.inHead == len(s.in) {
				// Empty: keep the array for the next messages, unless a
				// burst made it large.
				s.in, s.inHead = s.in[:0], 0
				if cap(s.in) > maxKeptInbox {
					s.in = nil
				}
			}
			s.inBytes -= inboxCost(m)
			more := s.inHead < len(s.in)
			s.mu.Unlock()
			signal(s.spaceC)
			if more {
				signal(s.readyC) // another reader may be waiting
			}
			return m, nil
		}
		if s.closeErr != nil {
			err := s.closeErr
			s.mu.Unlock()
			return "", err
		}
		s.mu.Unlock()
		if ctx == s.ctx {
			// The session's own context ends only after done is closed
			// (closeLocked): waiting on two channels keeps an idle handler
			// lighter, and its context's Done channel unmade.
			select {
			case <-s.readyC:
			case <-s.done:
			}
			continue
		}
		select {
		case <-s.readyC:
		case <-s.done:
		case <-ctx.Done():
			// ctx is often the session's own context, cancelled by the
			// close: then the close, not the context, is the answer.
			select {
			case <-s.done:
				continue
			default:
				return "", ctx.Err()
			}
		}
	}
}
