package stomp

import (
	"context"
	"errors"
	"fmt"
)

func (c *conn) onSubscribe(ctx context.Context, f *Frame) error {
	id, dest := f.Header.Get(HdrID), f.Header.Get(HdrDestination)
	if id == "" && c.version == "1.0" {
		id = dest // 1.0 makes id optional: the destination names the subscription
	}
	if id == "" || dest == "" {
		return errors.New("SUBSCRIBE needs id and destination headers")
	}
	mode, ok := parseAck(f.Header.Get(HdrAck))
	if !ok {
		return errors.New("ack must be auto, client or client-individual")
	}
	kind := c.srv.kind(dest)
	if kind == kindNone {
		return fmt.Errorf("%w: %q", ErrDestination, dest)
	}
	if err := c.authorize(ctx, OpSubscribe, dest); err != nil {
		return err
	}
	s := &subscription{c: c, id: id, dest: dest, ack: mode}
	if isPattern(dest) && c.relay == nil {
		if kind != kindTopic || !c.srv.cfg.PatternSubscriptions {
			return fmt.Errorf("%w: %q has a wildcard (patterns are for topics, with Config.PatternSubscriptions)", ErrDestination, dest)
		}
		p, err := parsePattern(dest, c.srv.cfg.TopicPrefixes)
		if err != nil {
			return fmt.Errorf("%w: %q", ErrDestination, dest)
		}
		s.pat = p
	}
	switch {
	case kind == kindUser:
		if c.principal.Name != "" {
			s.key = c.srv.cfg.UserPrefix + c.principal.Name + "/" + dest[len(c.srv.cfg.UserPrefix):]
		} // anonymous: only replies reach it
	case kind != kindApp:
		s.key = dest
	}
	c.mu.Lock()
	_, dup := c.subs[id]
	n := len(c.subs)
	if !dup && n < maxSubscriptions {
		c.subs[id] = s
	}
	c.mu.Unlock()
	switch {
	case dup:
		return fmt.Errorf("subscription id %q is already in use", id)
	case n >= maxSubscriptions:
		return fmt.Errorf("more than %d subscriptions", maxSubscriptions)
	}
	hb, histOK := c.srv.broker.historyBounds(s.key)
	var err error
	switch {
	case kind == kindApp:
		// As Spring's @SubscribeMapping: the handler answers this
		// subscription once; nothing is subscribed at the broker.
		err = c.runApp(ctx, dest, f, s)
	case c.relay != nil:
		err = c.relaySubscribe(ctx, f, s, kind)
	case f.Header.Get(HdrStreamOffset) != "" && kind == kindTopic && s.pat == nil && histOK:
		err = c.subscribeHistory(ctx, f, s, hb)
	default:
		if berr := c.srv.broker.subscribe(ctx, s); berr != nil {
			c.dropSub(s)
			err = appErr(f, dest, berr)
		}
	}
	if (err == nil || err == errWithheld) && kind == kindTopic && c.srv.presence != nil && f.Header.Get(HdrPresence) == "true" {
		info, ok := f.Header.Lookup(HdrPresenceInfo)
		if !ok {
			info = c.principal.Name
		}
		if perr := c.srv.presence.join(ctx, s, info); perr != nil {
			err = appErr(f, dest, perr)
		}
	}
	if err == nil || err == errForwarded || err == errWithheld {
		c.srv.users.changed(c)
		c.srv.event(Event{Type: EventSubscribe, Session: c.id, Principal: c.principal, Frame: f, Subscription: id, Destination: dest})
	}
	return err
}

// dropSub forgets s: no delivery reaches it from now on, and the ack
// entries of its unacknowledged messages go, in one step, so that a
// delivery racing the UNSUBSCRIBE cannot leave one behind. Its unacked list
// stays for the broker to requeue. It returns false if s was not there.
func (c *conn) dropSub(s *subscription) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.dead = true
	for _, d := range s.unacked {
		delete(c.acks, d.id)
	}
	if c.subs[s.id] != s {
		return false
	}
	delete(c.subs, s.id)
	return true
}

func (c *conn) onUnsubscribe(ctx context.Context, f *Frame) error {
	id := f.Header.Get(HdrID)
	if id == "" && c.version == "1.0" {
		id = f.Header.Get(HdrDestination)
	}
	if id == "" {
		return errors.New("UNSUBSCRIBE needs an id header")
	}
	c.mu.Lock()
	s := c.subs[id]
	c.mu.Unlock()
	if s == nil || !c.dropSub(s) { // an unknown id is ignored: it may have raced a failure
		return nil
	}
	c.srv.broker.unsubscribe(s)
	if c.srv.presence != nil {
		c.srv.presence.leave(s)
	}
	c.srv.users.changed(c)
	c.srv.event(Event{Type: EventUnsubscribe, Session: c.id, Principal: c.principal, Frame: f, Subscription: id, Destination: s.dest})
	if s.relayed {
		c.awaitSubscribed(ctx, s)
		fw := &Frame{Command: CmdUnsubscribe, Header: f.Header.Clone()}
		fw.Header.Set(HdrID, s.id)
		if err := c.relay.Forward(ctx, fw); err != nil {
			return appErr(f, s.dest, fmt.Errorf("%w: %w", errRelay, err))
		}
		return errForwarded
	}
	return nil
}
