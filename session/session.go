package session

import (
	"context"
	"sync"
	"time"

	"github.com/sockline/sockline/internal/frame"
)

// State is where a session is in its life.
type State int32

// Session states, in the only order a session goes through them.
const (
	StateConnecting State = iota // created, open frame not yet taken
	StateOpen                    // open frame taken by a receiver
	StateClosing                 // closed, close frame not yet taken
	StateClosed                  // close frame taken; replayed to later requests
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateOpen:
		return "open"
	case StateClosing:
		return "closing"
	default:
		return "closed"
	}
}

// Scheduler runs functions after a delay. heartbeat.Wheel provides one
// shared by every session; TimeScheduler uses the runtime's timers.
type Scheduler interface {
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call made by a Scheduler.
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

// TimeScheduler is a Scheduler backed by time.AfterFunc.
type TimeScheduler struct{}

// AfterFunc calls time.AfterFunc.
func (TimeScheduler) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Config holds a session's settings. The owner (package sockjs) fills in
// defaults; here every field is used as given.
type Config struct {
	// HeartbeatDelay is how long an attached receiver may go without any
	// frame before it is sent "h". Zero or negative disables heartbeats.
	HeartbeatDelay time.Duration
	// PingInterval is how often a receiver that called EnablePings gets a
	// KindPing frame. Zero means HeartbeatDelay; no pings when neither is
	// positive.
	PingInterval time.Duration
	// DisconnectDelay is how long a session lives with no receiver attached,
	// and how long a closed session is remembered. Must be positive.
	DisconnectDelay time.Duration
	// MaxQueuedBytes bounds the outbound queue; a Send that would pass it
	// closes the session with ErrSlowConsumer. Zero means no bound.
	MaxQueuedBytes int
	// MaxInboxBytes bounds the messages received but not yet read by Recv;
	// past it Deliver waits, which pushes back on the client. Zero means no bound.
	MaxInboxBytes int
	// SendTimeout bounds how long an HTTP send (BeginSend) waits for the
	// send slot and for room in the inbox. Zero or negative means no bound.
	SendTimeout time.Duration
	// Scheduler provides timers; nil means TimeScheduler.
	Scheduler Scheduler
	// OnExpire is called once, from the scheduler, when the session is to be
	// forgotten: closed and unattended for the disconnect delay.
	OnExpire func(*Session)
	// BaseContext is the parent of the session's context: its values are
	// the session context's values (the identity middleware put in the
	// creating request's context, say). Its cancellation is ignored, since
	// the session outlives the request it came from; the session's context
	// is cancelled when the session closes. Nil means context.Background().
	BaseContext context.Context
	// OnHeartbeat, when set, is called (from the scheduler, without the
	// session's lock) each time a heartbeat becomes due for an attached
	// receiver.
	OnHeartbeat func()
	// Owner is the owner's handle for the session (package sockjs keeps its
	// public Session here), returned by Session.Owner.
	Owner any
	// Hold, when set, returns a time before which a session with no
	// receiver is not timed out: a cluster node whose session store is
	// unreachable or recovering cannot be reached by its sessions'
	// requests, which wait at other nodes meanwhile. It is called with the
	// session's lock held, so it must be quick and must not call the
	// session.
	Hold func() time.Time
}

// Session is one SockJS session. Create it with New.
type Session struct {
	id     string
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	state      State
	openSent   bool
	out        [][]byte // quoted messages waiting for a receiver
	outBytes   int
	closeErr   *CloseError
	closeFrame []byte
	recv       *Receiver
	hbPending  bool
	lastSent   time.Time
	detachedAt time.Time
	// writing counts receivers that gave up the slot but are still
	// writing their last frame; the disconnect delay waits for them.
	writing int
	timer   Timer
	expired bool

	inbox
}

// New returns a connecting session with no receiver. Its disconnect delay
// starts now: a session that nobody attaches to expires.
func New(id string, cfg Config) *Session {
	if cfg.Scheduler == nil {
		cfg.Scheduler = TimeScheduler{}
	}
	if cfg.DisconnectDelay <= 0 {
		panic("session: DisconnectDelay must be positive")
	}
	s := &Session{id: id, cfg: cfg}
	base := context.Background()
	if cfg.BaseContext != nil {
		// Only the session's close may end its context: Recv relies on
		// finding the session closed once the context is done.
		base = context.WithoutCancel(cfg.BaseContext)
	}
	s.ctx, s.cancel = context.WithCancel(base)
	s.inbox.init()
	s.mu.Lock()
	s.detachedAt = time.Now()
	s.armLocked(s.detachedAt)
	s.mu.Unlock()
	return s
}

// ID returns the session id chosen by the client.
func (s *Session) ID() string { return s.id }

// Owner returns Config.Owner.
func (s *Session) Owner() any { return s.cfg.Owner }

// Context is cancelled when the session closes. It carries the values of
// Config.BaseContext.
func (s *Session) Context() context.Context { return s.ctx }

// State returns the current state.
func (s *Session) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Err returns nil while the session is open, and then the *CloseError that
// tells how it ended.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeErr == nil {
		return nil
	}
	return s.closeErr
}

// Send queues msg for the client. It never blocks on the network.
func (s *Session) Send(msg string) error {
	return s.SendQuoted(frame.Quote(msg))
}

// SendQuoted queues a message already encoded by frame.AppendQuote, so that
// a broadcast encodes once. The session keeps q: callers must not change it.
func (s *Session) SendQuoted(q []byte) error {
	s.mu.Lock()
	if s.closeErr != nil {
		err := s.closeErr
		s.mu.Unlock()
		return err
	}
	if limit := s.cfg.MaxQueuedBytes; limit > 0 && s.outBytes+len(q) > limit {
		s.out, s.outBytes = nil, 0
		s.closeLocked(&CloseError{Code: 1008, Reason: "Send queue overflow", Cause: ErrSlowConsumer})
		err := s.closeErr
		s.mu.Unlock()
		return err
	}
	s.out = append(s.out, q)
	s.outBytes += len(q)
	recv := s.recv
	s.mu.Unlock()
	// Wake the writer after unlocking, so that it does not wake only to
	// wait for this lock. A receiver detached meanwhile has a buffered
	// channel nobody reads: the token is harmless.
	if recv != nil {
		recv.signal()
	}
	return nil
}

// Close closes the session with code and reason, as asked by the
// application or the server. Messages already queued are still delivered,
// followed by the close frame. Closing a closed session does nothing and
// returns the error that closed it.
func (s *Session) Close(code int, reason string) error {
	return s.CloseWith(&CloseError{Code: code, Reason: reason, Cause: ErrServerClosed})
}

// CloseWith closes the session with the given code, reason and cause; the
// transports use it to report the client's side. It returns nil if this
// call closed the session, else the earlier CloseError.
func (s *Session) CloseWith(e *CloseError) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closeLocked(e) {
		return s.closeErr
	}
	return nil
}

func (s *Session) closeLocked(e *CloseError) bool {
	if s.closeErr != nil {
		return false
	}
	s.closeErr = e
	s.closeFrame = frame.AppendClose(nil, e.Code, e.Reason)
	s.state = StateClosing
	// done before cancel: whoever sees the context end must find the
	// session closed (Recv relies on it).
	s.inbox.closeLocked()
	s.cancel()
	s.wakeLocked()
	return true
}

func (s *Session) wakeLocked() {
	if s.recv != nil {
		s.recv.signal()
	}
}

// armLocked points the session's one timer at its next deadline: the end
// of the disconnect delay while nobody is attached, else the next heartbeat.
func (s *Session) armLocked(now time.Time) {
	if s.expired {
		return
	}
	var due time.Time
	switch {
	case s.recv == nil && s.writing > 0:
		return // the delay starts when the last write is done
	case s.recv == nil:
		due = s.expiryLocked()
	case s.closeErr == nil:
		armed := false
		if s.cfg.HeartbeatDelay > 0 {
			due, armed = s.lastSent.Add(s.cfg.HeartbeatDelay), true
		}
		if pi := s.pingInterval(); s.recv.pings && pi > 0 {
			p := s.recv.lastPing.Add(pi)
			if !armed {
				due = p
			}
			due, armed = minTime(due, p), true
		}
		if !armed {
			return
		}
	default:
		return
	}
	d := max(due.Sub(now), 0)
	if s.timer == nil {
		s.timer = s.cfg.Scheduler.AfterFunc(d, s.onTimer)
	} else {
		s.timer.Reset(d)
	}
}

// expiryLocked is when a session with no receiver times out: the
// disconnect delay after the last one left, or later while Config.Hold
// says requests cannot reach it.
func (s *Session) expiryLocked() time.Time {
	due := s.detachedAt.Add(s.cfg.DisconnectDelay)
	if s.cfg.Hold != nil {
		if h := s.cfg.Hold(); h.After(due) {
			return h
		}
	}
	return due
}

// pingInterval is Config.PingInterval with its default applied.
func (s *Session) pingInterval() time.Duration {
	if s.cfg.PingInterval > 0 {
		return s.cfg.PingInterval
	}
	return s.cfg.HeartbeatDelay
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// onTimer runs on the scheduler's goroutine. Deadlines may have moved since
// the timer was set (a frame was written, a receiver came), so it re-checks.
func (s *Session) onTimer() {
	now := time.Now()
	s.mu.Lock()
	if s.expired {
		s.mu.Unlock()
		return
	}
	if s.recv == nil && s.writing == 0 && !now.Before(s.expiryLocked()) {
		s.closeLocked(&CloseError{Code: 1006, Reason: "Session timed out", Cause: ErrTimedOut})
		s.expired = true
		s.mu.Unlock()
		if s.cfg.OnExpire != nil {
			s.cfg.OnExpire(s)
		}
		return
	}
	heartbeat := false
	if r := s.recv; r != nil {
		if s.cfg.HeartbeatDelay > 0 && !now.Before(s.lastSent.Add(s.cfg.HeartbeatDelay)) {
			heartbeat = true
			s.hbPending = true
			s.lastSent = now // the next heartbeat is due one delay after this one
			s.wakeLocked()
		}
		if pi := s.pingInterval(); r.pings && pi > 0 && !now.Before(r.lastPing.Add(pi)) {
			r.pingPending = true
			r.lastPing = now
			s.wakeLocked()
		}
	}
	s.armLocked(now)
	s.mu.Unlock()
	if heartbeat && s.cfg.OnHeartbeat != nil {
		s.cfg.OnHeartbeat()
	}
}

// Expire stops the session's timer and closes it with cause, without the
// disconnect delay; the owner uses it on shutdown. OnExpire is not called.
func (s *Session) Expire(e *CloseError) {
	s.mu.Lock()
	s.closeLocked(e)
	s.expired = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
}
