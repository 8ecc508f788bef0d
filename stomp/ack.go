package stomp

import (
	"context"
	"fmt"
	"strconv"
)

// onAck handles ACK and NACK. STOMP 1.2 names the message by the MESSAGE's
// ack header (id), 1.0 and 1.1 by message-id; this server makes both the
// same. Unknown numeric ids are ignored (a message may have been
// redelivered elsewhere after an UNSUBSCRIBE); an id this server never
// gives is a protocol error.
func (c *conn) onAck(ctx context.Context, f *Frame) error {
	v := ackID(f)
	if v == "" {
		return fmt.Errorf("%s needs an id header", f.Command)
	}
	if _, err := strconv.ParseUint(v, 10, 64); err != nil && c.relay == nil {
		return fmt.Errorf("%s id %q was never given by this server (message ids are numbers)", f.Command, v)
	}
	if tx := f.Header.Get(HdrTransaction); tx != "" {
		return c.hold(tx, f)
	}
	return c.ackFrame(ctx, f)
}

func ackID(f *Frame) string {
	if v := f.Header.Get(HdrID); v != "" {
		return v
	}
	return f.Header.Get(HdrMessageID)
}

// ackFrame applies a checked ACK or NACK: to a delivery of this server, or
// (with a relay) to the broker's.
func (c *conn) ackFrame(ctx context.Context, f *Frame) error {
	id, err := strconv.ParseUint(ackID(f), 10, 64)
	if err == nil && c.ack(id, f.Command == CmdNack) {
		return nil
	}
	if c.relay != nil {
		if err := c.relay.Forward(ctx, f); err != nil {
			return appErr(f, "", fmt.Errorf("%w: %w", errRelay, err))
		}
		return errForwarded
	}
	return nil
}

// ack acknowledges (or, with nack, refuses) delivery id: in client mode it
// and every earlier delivery of its subscription, in client-individual mode
// it alone. Refused queue messages go back to the queue. It reports
// whether id was a pending delivery.
func (c *conn) ack(id uint64, nack bool) bool {
	c.mu.Lock()
	s := c.acks[id]
	if s == nil {
		c.mu.Unlock()
		return false
	}
	i := 0
	for i < len(s.unacked) && s.unacked[i].id != id {
		i++
	}
	if i == len(s.unacked) { // requeued when the subscription ended
		c.mu.Unlock()
		return true
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
	q, sq := s.q, s.sq
	c.mu.Unlock()
	if sq != nil {
		var settled []*message
		for _, d := range taken {
			if d.msg != nil {
				settled = append(settled, d.msg)
			}
		}
		sq.settle(settled, nack)
		return true
	}
	if q == nil {
		return true
	}
	var back []*message
	for _, d := range taken {
		if d.msg != nil { // replies were never queued
			back = append(back, d.msg)
		}
	}
	if !nack || len(back) == 0 {
		c.srv.broker.more(q)
		return true
	}
	c.srv.broker.requeue(q, back)
	return true
}
