package stomp

import (
	"strconv"
)

// deliver sends m to subscription s and reports whether it was sent: not
// if s is gone or the connection closed. In a client ack mode the delivery
// is remembered until acknowledged; a topic subscription past its unacked
// bound is a slow consumer and its connection fails. It is called with the
// destination's lock held (queue order), so it only queues bytes.
func (c *conn) deliver(s *subscription, m *message) bool {
	c.mu.Lock()
	if s.dead || c.closed {
		c.mu.Unlock()
		return false
	}
	if s.ack != ackAuto && len(s.unacked) >= c.srv.cfg.MaxUnacked {
		c.mu.Unlock()
		c.fail("slow consumer: more than "+strconv.Itoa(c.srv.cfg.MaxUnacked)+" unacknowledged messages on subscription "+s.id, "")
		return false
	}
	c.nextMsg++
	id := c.nextMsg
	if s.ack != ackAuto {
		kept := m
		if s.q == nil {
			kept = nil // a topic message is not redelivered
		}
		s.unacked = append(s.unacked, delivery{id, kept})
		c.acks[id] = s
	}
	frame := c.messageFrame(s, id, m)
	err := c.t.Send(frame)
	if err != nil {
		// The transport is closed (or just overflowed): stop offering this
		// subscription anything, or a queue would retry it forever before
		// the connection's teardown removes it.
		s.dead = true
		if s.ack != ackAuto {
			s.unacked = s.unacked[:len(s.unacked)-1]
			delete(c.acks, id)
		}
	}
	c.mu.Unlock()
	return err == nil
}

// messageFrame is the MESSAGE for one delivery: the per-delivery header
// lines, then the message's shared tail.
func (c *conn) messageFrame(s *subscription, id uint64, m *message) string {
	b := make([]byte, 0, 64+len(s.dest)+len(s.id)+len(m.tail))
	b = append(b, CmdMessage+"\n"+HdrDestination+":"...)
	b = appendEscaped(b, s.dest)
	b = append(b, "\n"+HdrSubscription+":"...)
	b = appendEscaped(b, s.id)
	b = append(b, "\n"+HdrMessageID+":"...)
	b = strconv.AppendUint(b, id, 10)
	if s.ack != ackAuto {
		b = append(b, "\n"+HdrAck+":"...)
		b = strconv.AppendUint(b, id, 10)
	}
	b = append(b, '\n')
	b = append(b, m.tail...)
	return string(b)
}

// canTake reports whether a queue may hand s another message.
func (c *conn) canTake(s *subscription, maxUnacked int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !s.dead && !c.closed && (s.ack == ackAuto || len(s.unacked) < maxUnacked)
}

// ack acknowledges (or, with nack, refuses) delivery id: in client mode it
// and every earlier delivery of its subscription, in client-individual mode
// it alone. Refused queue messages go back to the queue.
func (c *conn) ack(id uint64, nack bool) {
	c.mu.Lock()
	s := c.acks[id]
	if s == nil {
		c.mu.Unlock()
		return
	}
	i := 0
	for i < len(s.unacked) && s.unacked[i].id != id {
		i++
	}
	if i == len(s.unacked) { // requeued when the subscription ended
		c.mu.Unlock()
		return
	}
	var taken []delivery
	if s.ack == ackClient {
		taken = append(taken, s.unacked[:i+1]...)
		s.unacked = append(s.unacked[:0:0], s.unacked[i+1:]...)
	} else {
		taken = append(taken, s.unacked[i])
		s.unacked = append(s.unacked[:i:i], s.unacked[i+1:]...)
	}
	for _, d := range taken {
		delete(c.acks, d.id)
	}
	q := s.q
	c.mu.Unlock()
	if q == nil {
		return
	}
	if !nack {
		c.srv.broker.more(q)
		return
	}
	msgs := make([]*message, 0, len(taken))
	for _, d := range taken {
		msgs = append(msgs, d.msg)
	}
	c.srv.broker.requeue(q, msgs)
}

// reply delivers m to this connection's own subscriptions of dest.
func (c *conn) reply(dest string, m *message) error {
	c.mu.Lock()
	var to []*subscription
	for _, s := range c.subs {
		if s.dest == dest {
			to = append(to, s)
		}
	}
	c.mu.Unlock()
	for _, s := range to {
		c.deliver(s, m)
	}
	return nil
}
