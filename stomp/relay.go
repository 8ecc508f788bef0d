package stomp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BrokerRelay carries broker destinations to an external STOMP broker
// (RabbitMQ, ActiveMQ); package stomp/relay implements it.
type BrokerRelay interface {
	// Open starts the broker connection of one client session, with the
	// client's CONNECT login and passcode (the relay may use configured
	// ones instead). deliver gets every frame the broker sends on it
	// (MESSAGE, RECEIPT, ERROR), in order, from one goroutine, and must not
	// block long. closed is called once if the connection ends for good
	// (broker gone, broker ERROR), with the reason; not after Close.
	Open(ctx context.Context, login, passcode string, deliver func(*Frame), closed func(error)) (RelaySession, error)
	// Publish sends a message to a broker destination over the relay's
	// shared system connection.
	Publish(ctx context.Context, destination string, header Header, body []byte) error
	// Close closes the system connection and every session's connection.
	Close() error
}

// RelaySession is one client session's connection to the external broker.
type RelaySession interface {
	// Forward sends a client frame (SEND, SUBSCRIBE, UNSUBSCRIBE, ACK,
	// NACK, BEGIN, COMMIT, ABORT) to the broker.
	Forward(ctx context.Context, f *Frame) error
	// Close sends DISCONNECT and closes the connection.
	Close() error
}

// errRelay wraps what the relay returns, for the AppError a client's frame
// then gets.
var errRelay = errors.New("stomp: the broker relay failed")

// relaySubscribe forwards a SUBSCRIBE to the broker: a user destination
// as Spring resolves it, {UserPrefix}queue/x becoming the session's own
// broker queue /queue/x-user{session}. MESSAGE frames come back with the
// client's destination (fromRelay).
func (c *conn) relaySubscribe(ctx context.Context, f *Frame, s *subscription, kind destKind) error {
	fw := &Frame{Command: CmdSubscribe, Header: f.Header.Clone()}
	fw.Header.Set(HdrID, s.id)
	if kind == kindUser {
		fw.Header.Set(HdrDestination, c.srv.sessionDestination(s.dest[len(c.srv.cfg.UserPrefix)-1:], c.id))
	}
	// The broker may take an UNSUBSCRIBE that follows at once for one of a
	// subscription it has not set up yet (RabbitMQ answers ERROR "There is
	// no current subscription"): the UNSUBSCRIBE waits for this receipt.
	// That narrows the window; RabbitMQ may still register the consumer
	// after its RECEIPT, rarely.
	receipt, own := f.Header.Get(HdrReceipt), false
	if receipt == "" {
		receipt, own = relayReceiptPrefix+s.id, true
		fw.Header.Set(HdrReceipt, receipt)
	}
	c.mu.Lock()
	s.relayed = true
	s.confirmed = make(chan struct{})
	if c.relayReceipts == nil {
		c.relayReceipts = make(map[string]relayReceipt)
	}
	c.relayReceipts[receipt] = relayReceipt{sub: s, own: own}
	c.mu.Unlock()
	if err := c.relay.Forward(ctx, fw); err != nil {
		c.dropSub(s)
		return appErr(f, s.dest, fmt.Errorf("%w: %w", errRelay, err))
	}
	return errForwarded
}

// relayReceiptPrefix starts the receipt ids the server adds to relayed
// SUBSCRIBEs the client asked no receipt for.
const relayReceiptPrefix = "sockline-subscribed-"

// relayReceipt is a relayed SUBSCRIBE waiting for the broker's RECEIPT;
// own when the receipt is the server's, not the client's.
type relayReceipt struct {
	sub *subscription
	own bool
}

// relayConfirmWait bounds how long an UNSUBSCRIBE waits for its
// SUBSCRIBE's receipt from the broker.
const relayConfirmWait = 5 * time.Second

// awaitSubscribed waits until the broker has confirmed s, or a while.
func (c *conn) awaitSubscribed(ctx context.Context, s *subscription) {
	if s.confirmed == nil {
		return
	}
	t := time.NewTimer(relayConfirmWait)
	defer t.Stop()
	select {
	case <-s.confirmed:
	case <-ctx.Done():
	case <-t.C:
	}
}

// sessionDestination is Spring's resolution of a user destination for one
// session: /queue/x for session s is /queue/x-users.
func (s *Server) sessionDestination(dest, session string) string {
	return dest + "-user" + session
}

// relayToUser publishes a SEND to {UserPrefix}{name}/{rest} to the broker
// destination of every session of that user (Users, on every node with
// Config.ClusterUsers), as Spring's UserDestinationMessageHandler does.
func (s *Server) relayToUser(ctx context.Context, dest string, header Header, body []byte) error {
	name, rest, _ := s.splitUser(dest)
	var errs []error
	for _, u := range s.users.all() {
		if u.Name != name {
			continue
		}
		for _, si := range u.Sessions {
			if err := s.cfg.Relay.Publish(ctx, s.sessionDestination("/"+rest, si.ID), header, body); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", errRelay, err)
	}
	return nil
}

// fromRelay passes a broker frame to the client: a MESSAGE gets back the
// destination the client subscribed to.
func (c *conn) fromRelay(f *Frame) {
	if f.Command == CmdReceipt {
		id := f.Header.Get(HdrReceiptID)
		c.mu.Lock()
		r, ok := c.relayReceipts[id]
		delete(c.relayReceipts, id)
		c.mu.Unlock()
		if ok {
			close(r.sub.confirmed)
			if r.own {
				return // ours, not the client's
			}
		}
	}
	if f.Command == CmdMessage {
		c.mu.Lock()
		s := c.subs[f.Header.Get(HdrSubscription)]
		c.mu.Unlock()
		if s != nil && s.dest != f.Header.Get(HdrDestination) {
			f = &Frame{Command: f.Command, Header: f.Header.Clone(), Body: f.Body}
			f.Header.Set(HdrDestination, s.dest)
		}
	}
	if f.Command == CmdError {
		c.fail("message broker: "+f.Header.Get(HdrMessage), f.Header.Get(HdrReceiptID))
		return
	}
	c.sendFrame(f)
}

// relayClosed ends the client's connection when its broker connection is
// gone for good: its subscriptions went with it.
func (c *conn) relayClosed(err error) {
	c.srv.cfg.Logger.Warn("stomp: broker relay connection ended", "session", c.id, "err", err)
	c.fail("the message broker connection was lost; reconnect", "")
}
