package stomp

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// onSend routes a SEND now, or holds it for its transaction's COMMIT once
// it is known to be routable and allowed, so that a COMMIT never fails
// half-way on a bad destination.
func (c *conn) onSend(ctx context.Context, f *Frame) error {
	dest := f.Header.Get(HdrDestination)
	if dest == "" {
		return errors.New("SEND without a destination header")
	}
	kind := c.srv.kind(dest)
	if kind == kindNone {
		return fmt.Errorf("%w: %q", ErrDestination, dest)
	}
	if kind == kindUser {
		if _, _, ok := c.srv.splitUser(dest); !ok {
			return fmt.Errorf("%w: %q (write %s{user}/...)", ErrDestination, dest, c.srv.cfg.UserPrefix)
		}
	}
	if err := c.authorize(ctx, OpSend, dest); err != nil {
		return err
	}
	if tx := f.Header.Get(HdrTransaction); tx != "" {
		return c.hold(tx, f)
	}
	return c.route(ctx, f, dest, kind)
}

// route carries a checked SEND to its handler, the relay or the broker.
func (c *conn) route(ctx context.Context, f *Frame, dest string, kind destKind) error {
	switch {
	case kind == kindApp:
		return c.callApp(ctx, dest, f)
	case c.relay != nil && kind == kindUser:
		if err := c.srv.relayToUser(ctx, dest, f.Header, f.Body); err != nil {
			return appErr(f, dest, err)
		}
		return nil
	case c.relay != nil:
		if err := c.relay.Forward(ctx, f); err != nil {
			return appErr(f, dest, fmt.Errorf("%w: %w", errRelay, err))
		}
		return errForwarded
	}
	if err := c.srv.broker.send(ctx, dest, newMessage(f.Header, f.Body)); err != nil {
		if errors.Is(err, ErrQueueFull) {
			return err
		}
		return appErr(f, dest, err)
	}
	return nil
}

func (c *conn) authorize(ctx context.Context, op Op, dest string) error {
	if a := c.srv.cfg.Authorize; a != nil {
		if err := a(ctx, c.principal, op, dest); err != nil {
			return errors.New(refusalText(err, string(op)+" to "+dest+" refused"))
		}
	}
	return nil
}

// errNoHandler: an /app destination no handler matches.
var errNoHandler = errors.New("stomp: no handler for this destination")

// callApp runs the application handler of an /app destination (of routes,
// for SEND; of subscribeRoutes for SUBSCRIBE, with sub set). Every failure
// is an AppError.
func (c *conn) callApp(ctx context.Context, dest string, f *Frame) error {
	return c.runApp(ctx, dest, f, nil)
}

func (c *conn) runApp(ctx context.Context, dest string, f *Frame, sub *subscription) (err error) {
	h, vars, ok := c.srv.lookup(dest, sub != nil)
	if !ok {
		return appErr(f, dest, fmt.Errorf("%w: %s", errNoHandler, dest))
	}
	m := &AppMessage{Destination: dest, Vars: vars, Header: f.Header, Body: f.Body, Principal: c.principal, Session: c.id, c: c, sub: sub}
	if sub != nil {
		m.Subscription = sub.id
	}
	defer func() {
		if r := recover(); r != nil {
			c.srv.cfg.Logger.Debug("stomp: application handler panicked", "destination", dest, "stack", string(debug.Stack()))
			e := appErr(f, dest, fmt.Errorf("stomp: handler panicked: %v", r))
			e.Panic = r
			err = e
		}
	}()
	if err := h(ctx, m); err != nil {
		return appErr(f, dest, err)
	}
	return nil
}
