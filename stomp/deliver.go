package stomp

import (
	"strconv"
)

// deliver sends m to subscription s and reports whether it was sent: not
// if s is gone or the connection closed. In a client ack mode the delivery
// is remembered until acknowledged, with m when queued is set (a queue
// message goes back to its queue if refused; a topic message or a reply is
// not redelivered); a topic subscription past its unacked bound is a slow
// consumer and its connection fails. It is called with the destination's
// lock held (queue order), so it only queues bytes.
func (c *conn) deliver(s *subscription, m *message, queued bool) bool {
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
		if !queued {
			kept = nil
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
// lines, then the message's shared tail, both written for the connection's
// STOMP version. Called with c.mu held.
func (c *conn) messageFrame(s *subscription, id uint64, m *message) string {
	tail := m.tailFor(c.version)
	dest := s.dest
	if s.pat != nil && m.dest != "" {
		dest = m.dest // the destination the message was sent to, not the pattern
	}
	n := 64 + len(dest) + len(s.id) + len(tail)
	if m.pos.Epoch != "" {
		n += 64 + len(m.pos.Epoch) // x-stream-offset, x-stream-epoch, x-stream-recovered
	}
	b := make([]byte, 0, n)
	b = append(b, CmdMessage+"\n"+HdrDestination+":"...)
	b = appendEscapedVersion(b, dest, c.version)
	b = append(b, "\n"+HdrSubscription+":"...)
	b = appendEscapedVersion(b, s.id, c.version)
	b = append(b, "\n"+HdrMessageID+":"...)
	b = strconv.AppendUint(b, id, 10)
	if s.ack != ackAuto {
		b = append(b, "\n"+HdrAck+":"...)
		b = strconv.AppendUint(b, id, 10)
	}
	if m.pos.Epoch != "" {
		b = append(b, "\n"+HdrStreamOffset+":"...)
		b = strconv.AppendUint(b, m.pos.Offset, 10)
		b = append(b, "\n"+HdrStreamEpoch+":"...)
		b = appendEscapedVersion(b, m.pos.Epoch, c.version)
	}
	if s.recovered != "" {
		b = append(b, "\n"+HdrStreamRecovered+":"...)
		b = append(b, s.recovered...)
		s.recovered = ""
	}
	b = append(b, '\n')
	b = append(b, tail...)
	return string(b)
}

// canTake reports whether a queue may hand s another message.
func (c *conn) canTake(s *subscription, maxUnacked int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !s.dead && !c.closed && (s.ack == ackAuto || len(s.unacked) < maxUnacked)
}

// reply delivers m to this connection's own subscriptions of dest; with
// only set, to that subscription alone (a subscribe handler's answer).
func (c *conn) reply(dest string, m *message, only *subscription) error {
	c.mu.Lock()
	var to []*subscription
	if only != nil && only.dest == dest {
		to = append(to, only)
	} else {
		for _, s := range c.subs {
			if s.dest == dest {
				to = append(to, s)
			}
		}
	}
	c.mu.Unlock()
	for _, s := range to {
		c.deliver(s, m, false)
	}
	return nil
}
