package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sockline/sockline/stomp"
)

// RelaySession is one client session's connection to the broker, as Open
// returns it: stomp.RelaySession, so that *Relay is a stomp.BrokerRelay.
type RelaySession = stomp.RelaySession

// *Relay is what stomp.Config.Relay takes.
var _ stomp.BrokerRelay = (*Relay)(nil)

// Relay connects a STOMP server's sessions to an external broker: one
// connection per session (Open) and a shared system connection (Publish).
// Its methods are safe for concurrent use.
type Relay struct {
	opts   Options
	ctx    context.Context // ends with Close; bounds the system loop
	cancel context.CancelFunc

	mu         sync.Mutex
	system     *brokerConn // nil while down
	systemErr  error       // why the system connection is down
	tried      bool        // a first connection attempt has ended
	changed    chan struct{}
	sessions   map[*session]struct{}
	closed     bool
	systemDone chan struct{}
}

// New validates o and starts connecting the system connection in the
// background; WaitReady waits for it. Close the Relay when done.
func New(o Options) (*Relay, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{
		opts: o, ctx: ctx, cancel: cancel,
		changed:    make(chan struct{}),
		sessions:   make(map[*session]struct{}),
		systemDone: make(chan struct{}),
		systemErr:  fmt.Errorf("%w: not connected to %s yet", ErrBrokerUnavailable, o.Addr),
	}
	go r.runSystem()
	return r, nil
}

// setSystem records the system connection's state and wakes waiters.
func (r *Relay) setSystem(c *brokerConn, err error) {
	r.mu.Lock()
	r.system, r.systemErr, r.tried = c, err, true
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// runSystem keeps the system connection up, reconnecting with backoff.
func (r *Relay) runSystem() {
	defer close(r.systemDone)
	delay := r.opts.ReconnectDelay
	deliver := func(f *stomp.Frame) {
		if f.Command == stomp.CmdError {
			r.opts.Logf("relay: system connection to %s got ERROR: %s", r.opts.Addr, f.Header.Get(stomp.HdrMessage))
		}
	}
	for {
		c, err := dial(r.ctx, &r.opts, r.opts.SystemLogin, r.opts.SystemPasscode, deliver, nil)
		if err == nil {
			r.setSystem(c, nil)
			delay = r.opts.ReconnectDelay
			select {
			case <-c.done:
				err = c.err()
				r.opts.Logf("relay: system connection lost: %v; reconnecting", err)
			case <-r.ctx.Done():
				r.setSystem(nil, ErrClosed)
				_ = c.Close()
				return
			}
		} else if r.ctx.Err() == nil {
			r.opts.Logf("relay: system connection: %v; retrying in %v", err, delay)
		}
		if r.ctx.Err() != nil {
			r.setSystem(nil, ErrClosed)
			return
		}
		r.setSystem(nil, err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			r.setSystem(nil, ErrClosed)
			return
		}
		delay = min(2*delay, r.opts.MaxReconnectDelay)
	}
}

// systemState returns the system connection, or why it is down. Before the
// first attempt has ended it waits for it, as long as ctx allows.
func (r *Relay) systemState(ctx context.Context) (*brokerConn, error) {
	for {
		r.mu.Lock()
		c, err, tried, changed, closed := r.system, r.systemErr, r.tried, r.changed, r.closed
		r.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if tried || ctx.Err() != nil {
			if c == nil {
				if !errors.Is(err, ErrBrokerUnavailable) && !errors.Is(err, ErrClosed) {
					err = fmt.Errorf("%w: %w", ErrBrokerUnavailable, err)
				}
				return nil, fmt.Errorf("%w (the relay keeps reconnecting; retry later)", err)
			}
			return c, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
		}
	}
}

// WaitReady waits until the system connection is up, or ctx ends (with the
// reason the broker is unavailable).
func (r *Relay) WaitReady(ctx context.Context) error {
	for {
		r.mu.Lock()
		c, err, changed, closed := r.system, r.systemErr, r.changed, r.closed
		r.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case c != nil:
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("relay: system connection not up: %w (%w)", ctx.Err(), err)
		}
	}
}

// Open connects a client session to the broker with the client's login and
// passcode (or Options.ClientLogin's). deliver gets every frame the broker
// sends on it, in order, from one goroutine; closed is called once if the
// connection ends other than by the session's Close, with the reason. While
// the system connection is down, Open fails at once with
// ErrBrokerUnavailable.
func (r *Relay) Open(ctx context.Context, login, passcode string, deliver func(*stomp.Frame), closed func(error)) (RelaySession, error) {
	if _, err := r.systemState(ctx); err != nil {
		return nil, err
	}
	if r.opts.ClientLogin != "" {
		login, passcode = r.opts.ClientLogin, r.opts.ClientPasscode
	}
	s := &session{relay: r}
	c, err := dial(ctx, &r.opts, login, passcode, deliver, func(err error) {
		r.forget(s)
		if closed != nil {
			closed(err)
		}
	})
	if err != nil {
		return nil, err
	}
	s.conn = c
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = c.Close()
		return nil, ErrClosed
	}
	r.sessions[s] = struct{}{}
	r.mu.Unlock()
	select {
	case <-c.done: // lost already: closed has run, or runs now, and forgot s
		r.forget(s)
	default:
	}
	return s, nil
}

func (r *Relay) forget(s *session) {
	r.mu.Lock()
	delete(r.sessions, s)
	r.mu.Unlock()
}

// Publish sends a message to a broker destination over the system
// connection. header may be nil; its destination entry is replaced.
func (r *Relay) Publish(ctx context.Context, destination string, header stomp.Header, body []byte) error {
	c, err := r.systemState(ctx)
	if err != nil {
		return err
	}
	f := &stomp.Frame{Command: stomp.CmdSend, Header: header.Clone(), Body: body}
	f.Header.Set(stomp.HdrDestination, destination)
	b, err := r.encode(f)
	if err != nil {
		return err
	}
	return c.send(ctx, b)
}

func (r *Relay) encode(f *stomp.Frame) ([]byte, error) {
	b, err := stomp.Encode(f)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	if len(b) > r.opts.MaxFrameBytes {
		return nil, fmt.Errorf("relay: %s frame of %d bytes: %w (Options.MaxFrameBytes is %d)", f.Command, len(b), stomp.ErrTooLarge, r.opts.MaxFrameBytes)
	}
	return b, nil
}

// Close closes the system connection and every session's connection, and
// waits for their goroutines. Sessions' closed callbacks are not called. Do
// not call it from deliver.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.closed = true
	sessions := make([]*session, 0, len(r.sessions))
	for s := range r.sessions {
		sessions = append(sessions, s)
	}
	r.sessions = nil
	r.mu.Unlock()
	r.cancel()
	<-r.systemDone
	for _, s := range sessions {
		_ = s.conn.Close()
	}
	for _, s := range sessions {
		<-s.conn.done // readers that were in deliver
	}
	return nil
}

// session is one client session's broker connection.
type session struct {
	relay *Relay
	conn  *brokerConn
}

// forwarded is every command Forward carries.
var forwarded = map[string]bool{
	stomp.CmdSend: true, stomp.CmdSubscribe: true, stomp.CmdUnsubscribe: true,
	stomp.CmdAck: true, stomp.CmdNack: true,
	stomp.CmdBegin: true, stomp.CmdCommit: true, stomp.CmdAbort: true,
}

// Forward queues a client frame for the broker, waiting for room in the
// connection's queue as long as ctx allows.
func (s *session) Forward(ctx context.Context, f *stomp.Frame) error {
	if !forwarded[f.Command] {
		return fmt.Errorf("%w: %s (the relay sends CONNECT and DISCONNECT itself; close the session instead)", ErrNotForwarded, f.Command)
	}
	b, err := s.relay.encode(f)
	if err != nil {
		return err
	}
	return s.conn.send(ctx, b)
}

// Close sends what is queued and DISCONNECT, closes the connection and waits
// for its goroutines (not for a reader in deliver: Close may be called from
// deliver); closed is not called.
func (s *session) Close() error {
	err := s.conn.Close()
	s.relay.forget(s)
	return err
}
