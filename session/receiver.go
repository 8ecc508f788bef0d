package session

import (
	"context"
	"time"

	"github.com/sockline/sockline/internal/frame"
)

// Kind tells what a frame returned by Next is.
type Kind int

// Frame kinds.
const (
	KindOpen      Kind = iota // "o"
	KindMessages              // "a[...]"
	KindHeartbeat             // "h"
	KindClose                 // "c[code,reason]"; the last frame a receiver gets
	// KindPing asks the transport for its own liveness probe (a WebSocket
	// ping); it has no data. Only receivers that called EnablePings get it,
	// once per heartbeat delay whatever else is sent.
	KindPing
)

// Frame is one SockJS frame to write. Data and Messages are valid until the
// next call to Next on the same receiver, and must not be changed.
type Frame struct {
	Kind Kind
	// Data is the frame's bytes; nil in a KindMessages frame taken with
	// NextMessages.
	Data []byte
	// Messages is set in a KindMessages frame taken with NextMessages: the
	// messages of the batch, in order, each a JSON string as
	// frame.AppendQuote encodes it. Nil otherwise.
	Messages [][]byte
}

// Receiver is the one request (or websocket) currently taking a session's
// frames. Its goroutine is the only writer of the connection.
type Receiver struct {
	s    *Session
	ctx  context.Context // the receiving request's; done once its client left
	wake chan struct{}
	// notify, when set (AttachFunc), is called instead of signalling wake.
	notify func()
	gone   chan struct{} // closed on detach
	// Pings (guarded by s.mu): see EnablePings.
	pings       bool
	pingPending bool
	lastPing    time.Time
	buf         []byte
	msgs        [][]byte // Frame.Messages, reused
	detached    bool     // guarded by s.mu
	// writing (guarded by s.mu): the receiver gave up the session's slot
	// (NextAndDetach, Release) but is still writing what it took; the
	// disconnect delay starts when it is done (Detach).
	writing bool
	// batchLimit, when positive, bounds the bytes of messages in one
	// KindMessages frame (see LimitBatch).
	batchLimit int
}

// BusyGrace is how long Attach waits, when another receiver is attached, for
// that receiver's client to turn out gone before answering ErrReceiverBusy.
// A client that drops a hanging request and at once sends a new one races
// the server's detection of the drop (Go notices a closed connection on
// another goroutine); the grace lets the drop win, so the newcomer learns
// the truth (1002) instead of a misleading 2010. Only genuine second
// receivers, which are rare, pay this delay.
const BusyGrace = 100 * time.Millisecond

// Attach makes the caller the session's receiver; ctx is the receiving
// request's context. It fails with ErrReceiverBusy while another receiver
// is attached; the caller then answers with a 2010 close frame and the other
// receiver goes on. An attached receiver whose context has ended (its client
// left, but its goroutine has not noticed yet) does not count: it is
// interrupted, so the newcomer gets the 1002 close frame. See BusyGrace.
func (s *Session) Attach(ctx context.Context) (*Receiver, error) {
	return s.AttachFunc(ctx, nil)
}

// AttachFunc is Attach for a receiver without a goroutine of its own
// waiting in Next: instead of waking such a goroutine, the session calls
// notify whenever a frame may have become ready (a message queued, a
// heartbeat or ping due, the session closed), and the receiver takes what
// is ready with TryNext. notify is called from the sender's or the
// scheduler's goroutine, sometimes with the session's lock held: it must
// return at once and must not call back into the session (start or signal
// a goroutine that does). Nil notify makes AttachFunc Attach.
//
// The websocket transports use it so that an idle connection holds no
// writing goroutine, and its stack, at all.
func (s *Session) AttachFunc(ctx context.Context, notify func()) (*Receiver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.recv; old != nil && old.ctx.Err() == nil {
		s.mu.Unlock()
		t := time.NewTimer(BusyGrace)
		select {
		case <-old.ctx.Done():
		case <-old.gone:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		s.mu.Lock()
	}
	if old := s.recv; old != nil {
		if old.ctx.Err() == nil {
			return nil, ErrReceiverBusy
		}
		s.closeLocked(&CloseError{Code: frame.CodeInterrupted, Reason: frame.ReasonInterrupted, Cause: ErrClientClosed})
		old.detachLocked(time.Now())
	}
	r := &Receiver{s: s, ctx: ctx, notify: notify, gone: make(chan struct{})}
	if notify == nil {
		r.wake = make(chan struct{}, 1)
	}
	s.recv = r
	s.lastSent = time.Now()
	s.armLocked(s.lastSent)
	return r, nil
}

// Next waits for the next frame: the open frame first, then batches of every
// message pending (one "a" frame each), heartbeats when due, and finally the
// close frame (after which Next keeps returning it). It returns ctx's error
// if ctx ends first, and ErrDetached after Detach.
func (r *Receiver) Next(ctx context.Context) (Frame, error) {
	return r.next(ctx, false, false)
}

// NextMessages is Next for transports without SockJS framing (raw
// websocket), which send each message on its own: a batch comes as
// Frame.Messages, not as an "a" frame in Frame.Data. Frames of the other
// kinds are as Next returns them.
func (r *Receiver) NextMessages(ctx context.Context) (Frame, error) {
	return r.next(ctx, false, true)
}

// NextAndDetach is Next for one-frame responses (polling): it frees the
// session's receiver slot in the same critical section that takes the
// frame, before the caller writes it. A client that re-polls as soon as it
// reads the response therefore always finds the session free, never
// "Another connection still open". The disconnect delay, though, starts
// only when the caller calls Detach after its write has finished or
// failed: a slow write cannot outlast its own session.
func (r *Receiver) NextAndDetach(ctx context.Context) (Frame, error) {
	return r.next(ctx, true, false)
}

// Release frees the session's receiver slot at once, like NextAndDetach,
// for a receiver about to write its last frame (the close frame): a
// request the client opens as soon as it has read it must find the slot
// free. As with NextAndDetach the disconnect delay starts at Detach.
func (r *Receiver) Release() {
	r.s.mu.Lock()
	r.releaseLocked()
	r.s.mu.Unlock()
}

// LimitBatch bounds the messages of one KindMessages frame to about n
// bytes (their encoded size; a single larger message still goes alone);
// the rest stays queued for the next frame. HTTP transports use it so that
// one response, and one write deadline, never carry the whole queue.
// Call it before the first Next; zero or negative means no bound.
func (r *Receiver) LimitBatch(n int) {
	r.s.mu.Lock()
	r.batchLimit = n
	r.s.mu.Unlock()
}

// TryNext returns the frame Next would, if one is ready, without waiting:
// ok is false when none is. It returns ErrDetached after Detach. It is for
// receivers attached with AttachFunc, which are told by their notify
// function when to call it; like Next it must not be called concurrently
// with itself or Next on the same receiver.
func (r *Receiver) TryNext() (f Frame, ok bool, err error) {
	return r.take(false, false)
}

// TryNextMessages is TryNext for transports without SockJS framing; see
// NextMessages.
func (r *Receiver) TryNextMessages() (f Frame, ok bool, err error) {
	return r.take(false, true)
}

// take takes the next frame if one is ready.
func (r *Receiver) take(detach, raw bool) (Frame, bool, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.detached {
		return Frame{}, false, ErrDetached
	}
	f, ok := r.takeLocked(raw)
	if !ok {
		return Frame{}, false, nil
	}
	// A websocket ping is the transport's probe, not a SockJS frame: taken
	// a moment before a heartbeat is due, it must not put the "h" the
	// client waits for off by a whole delay.
	if f.Kind != KindPing {
		s.lastSent = time.Now()
	}
	if detach {
		r.releaseLocked()
	}
	return f, true, nil
}

func (r *Receiver) next(ctx context.Context, detach, raw bool) (Frame, error) {
	if r.wake == nil {
		panic("session: Next on a receiver attached with AttachFunc; use TryNext")
	}
	for {
		f, ok, err := r.take(detach, raw)
		if err != nil || ok {
			return f, err
		}
		select {
		case <-r.wake:
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

// Buffers reused from one batch to the next are dropped past these sizes,
// so that 100k mostly idle connections do not each keep the largest batch
// they ever carried.
const (
	maxKeptBuffer = 64 << 10
	maxKeptQueue  = 1024
)

func (r *Receiver) takeLocked(raw bool) (Frame, bool) {
	s := r.s
	switch {
	case !s.openSent:
		s.openSent = true
		if s.state == StateConnecting {
			s.state = StateOpen
		}
		return Frame{Kind: KindOpen, Data: frame.Open}, true
	case len(s.out) > 0:
		f := Frame{Kind: KindMessages}
		if raw {
			// The queue and r.msgs trade backing arrays: no copy, and
			// nothing allocated once both have grown.
			clear(r.msgs) // let the previous batch go
			r.msgs, s.out = s.out, r.msgs[:0]
			f.Messages = r.msgs
		} else {
			if cap(r.buf) > maxKeptBuffer {
				r.buf = nil // one large batch must not pin memory for the connection's life
			}
			n, size := r.batchLen()
			r.buf = frame.AppendMessages(r.buf[:0], s.out[:n])
			f.Data = r.buf
			clear(s.out[:n])
			if n < len(s.out) {
				s.out = s.out[n:] // the rest waits for the next frame
				s.outBytes -= size
				return f, true
			}
			s.out = s.out[:0]
		}
		if cap(s.out) > maxKeptQueue {
			s.out = nil // likewise after a burst of many messages
		}
		s.outBytes = 0
		return f, true
	case s.closeErr != nil:
		s.state = StateClosed
		return Frame{Kind: KindClose, Data: s.closeFrame}, true
	case s.hbPending:
		s.hbPending = false
		return Frame{Kind: KindHeartbeat, Data: frame.Heartbeat}, true
	case r.pingPending:
		r.pingPending = false
		return Frame{Kind: KindPing}, true
	}
	return Frame{}, false
}

// batchLen returns how many queued messages the next frame takes, and
// their size: all of them, or as many as fit in the batch limit (at least
// one).
func (r *Receiver) batchLen() (n, size int) {
	out := r.s.out
	for i, q := range out {
		if r.batchLimit > 0 && i > 0 && size+len(q) > r.batchLimit {
			return i, size
		}
		size += len(q)
	}
	return len(out), size
}

// Detach frees the session for the next receiver and starts the disconnect
// delay (unless another receiver has attached meanwhile). It is
// idempotent; call it (deferred) when the response ends.
func (r *Receiver) Detach() {
	r.s.mu.Lock()
	r.detachLocked(time.Now())
	r.s.mu.Unlock()
}

func (r *Receiver) detachLocked(now time.Time) {
	r.releaseLocked()
	if !r.writing {
		return // never held the slot, or already detached
	}
	r.writing = false
	s := r.s
	s.writing--
	if s.recv == nil && s.writing == 0 {
		s.detachedAt = now
	}
	s.armLocked(now)
}

// releaseLocked frees the receiver slot if r holds it, leaving r writing:
// the disconnect delay waits for detachLocked.
func (r *Receiver) releaseLocked() {
	if r.detached {
		return
	}
	r.detached = true
	close(r.gone)
	s := r.s
	if s.recv == r {
		s.recv = nil
		s.hbPending = false
		r.writing = true
		s.writing++
	}
}

// Interrupt closes the session because the receiving connection broke
// (cause is ErrClientClosed or ErrWriteFailed) and detaches the receiver.
// Later requests get c[1002,"Connection interrupted"], as the protocol wants.
func (r *Receiver) Interrupt(cause error) {
	s := r.s
	s.mu.Lock()
	s.closeLocked(&CloseError{Code: frame.CodeInterrupted, Reason: frame.ReasonInterrupted, Cause: cause})
	r.detachLocked(time.Now())
	s.mu.Unlock()
}

// EnablePings asks for a KindPing frame every Config.PingInterval (by
// default the heartbeat delay), whether or not other frames flow: a
// connection that can probe its peer (WebSocket ping/pong) then finds a
// vanished peer even while the application keeps sending, since heartbeats
// are only sent on idle connections, or when heartbeats are off.
func (r *Receiver) EnablePings() {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.detached || s.recv != r {
		return
	}
	r.pings = true
	r.lastPing = time.Now()
	s.armLocked(r.lastPing)
}

// signal tells r a frame may be ready: it calls the notify function, or
// wakes the goroutine waiting in Next.
func (r *Receiver) signal() {
	if r.notify != nil {
		r.notify()
		return
	}
	signal(r.wake)
}

// Session returns the session r receives for.
func (r *Receiver) Session() *Session { return r.s }

// EndReceiver ends the attached receiver's response at the next frame
// boundary without closing the session, as a response limit does: its Next
// returns ErrDetached (a frame being written is written whole), and the
// client's next request finds the session free. A node that is draining
// uses it to move a streaming client's next request to another node.
func (s *Session) EndReceiver() {
	s.mu.Lock()
	r := s.recv
	if r != nil {
		r.releaseLocked()
	}
	s.mu.Unlock()
	if r != nil {
		r.signal()
	}
}

// HeartbeatNow sends the attached receiver a heartbeat frame now, whatever
// the heartbeat delay: a poll waiting for frames then ends with it, and the
// client polls again. A node that is draining uses it to move a polling
// client's next request to another node without waiting out the delay.
// It reports whether a receiver was attached to take it.
func (s *Session) HeartbeatNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recv == nil {
		return false
	}
	s.hbPending = true
	s.lastSent = time.Now()
	s.wakeLocked()
	return true
}
