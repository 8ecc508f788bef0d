package sockjs

import "time"

// holdExpiries keeps this node's sessions from timing out for lack of a
// receiver while the session store cannot route requests: unreachable, or
// back empty and waiting for the nodes to claim their sessions again.
// Meanwhile a client's next poll or stream waits at another node (route
// asks the store again until ForwardTimeout), so the disconnect delay
// would end sessions whose clients are there and whose node lives, and
// the waiting request would then open a new session under the old id.
// The hold lasts a disconnect delay past the last sign of trouble, plus a
// renewal interval: the node sees the store again only at its next
// renewal, and requests get through only after that renewal claimed its
// sessions back.
func (c *clusterNode) holdExpiries() {
	until := time.Now().Add(c.h.opts.DisconnectDelay + c.cfg.RenewInterval).UnixNano()
	for {
		cur := c.holdUntil.Load()
		if cur >= until || c.holdUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// holdUntilTime is session.Config.Hold for this node's sessions. Besides
// the holds taken on trouble, a registration overdue by a whole renewal
// interval holds them too: a store that does not answer (a partition
// drops packets) is seen failing only when the call's deadline ends, one
// more interval later, and a session whose delay ran out meanwhile would
// be timed out while its client's requests wait elsewhere.
func (c *clusterNode) holdUntilTime() time.Time {
	now := time.Now()
	until := time.Unix(0, c.holdUntil.Load())
	if last := c.lastRegistered.Load(); last != 0 && now.Sub(time.Unix(0, last)) > 2*c.cfg.RenewInterval {
		if h := now.Add(c.cfg.RenewInterval); h.After(until) {
			until = h
		}
	}
	return until
}
