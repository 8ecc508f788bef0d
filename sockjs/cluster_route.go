package sockjs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/internal/tunnel"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/transports"
)

// isSend reports whether transport only delivers to an existing session.
func isSend(transport string) bool {
	return transport == transports.NameXHRSend || transport == transports.NameJSONPSend
}

// isStreaming reports whether transport answers with a long response of
// many frames.
func isStreaming(transport string) bool {
	switch transport {
	case transports.NameXHRStreaming, transports.NameEventSource, transports.NameHTMLFile:
		return true
	}
	return false
}

// serve routes a session request in a cluster: served here when this node
// owns (or now creates) the session, carried to the owner otherwise.
func (c *clusterNode) serve(rt route, w http.ResponseWriter, r *http.Request, name, id string) {
	if _, ok := c.h.registry.Load(id); ok {
		c.h.serveSession(rt, w, r, name, id)
		return
	}
	if !c.awaitReady(r.Context()) {
		c.h.opts.Logger.Warn("sockline cluster: the node is not registered yet (is Redis reachable?)", "node", c.node, "session", id)
		storeUnavailable(w)
		return
	}
	var body []byte
	bodyRead := false
	for attempt := 0; ; attempt++ {
		owner, created, err := c.route(r.Context(), name, id, attempt == 0)
		switch {
		case errors.Is(err, cluster.ErrSessionLost):
			c.serveLost(rt, w, r, name, id)
		case err != nil:
			c.h.opts.Logger.Warn("sockline cluster: session store unavailable", "session", id, "err", err)
			storeUnavailable(w)
		case owner == c.node && !created && attempt < 2 && c.awaitRelease(r.Context(), id):
			continue // it was forgotten here a moment ago: ask again
		case owner == "" || owner == c.node:
			// Created by this request, or by another one on this node that is
			// still opening it, or unknown (a send: 404). While the node
			// shuts down, a session it still holds gets its close frame (a
			// poll that reaches it after Shutdown closed the session); only
			// a new one is refused.
			if c.h.shuttingDown() && !isSend(name) && (created || c.h.wouldCreate(name, id)) {
				if created {
					c.release(id)
					unavailable(w)
					return
				}
				// This node's session, closed by Shutdown and forgotten
				// since (the node stays while it carries other nodes'
				// requests): its close frame, not a refusal.
				rt.serve(&c.h.tcfg, endedSessions{shut: true}, w, r, id)
				return
			}
			c.h.serveSession(rt, w, r, name, id)
			if created {
				if _, ok := c.h.registry.Load(id); !ok {
					c.release(id) // refused (authorization, limits): free the id
				}
			}
		default:
			if !bodyRead {
				bodyRead = true
				if isSend(name) {
					done, ok := c.admitSend("edge/"+id, c.sendSize(r))
					if !ok {
						sendBusy(w)
						return
					}
					defer done()
				}
				var ok bool
				if body, ok = c.readBody(w, r, name); !ok {
					return
				}
				// Should the session turn out to be this node's after all
				// (asked again below), its transport reads the body again.
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			if c.forward(rt, w, r, name, id, owner, body) {
				if attempt < 2 {
					continue // the owner no longer has it: ask the store again
				}
				c.serveLost(rt, w, r, name, id)
			}
		}
		return
	}
}

// awaitReady waits, up to the forward timeout, until the node is subscribed
// and registered (a node just started).
func (c *clusterNode) awaitReady(ctx context.Context) bool {
	select {
	case <-c.ready:
		return true
	default:
	}
	t := time.NewTimer(c.cfg.ForwardTimeout)
	defer t.Stop()
	select {
	case <-c.ready:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// route finds the owner of session id: from the cache, else the store
// (claiming the id for a receiving request). While the store recovers
// from a restart it asks again until the forward timeout.
func (c *clusterNode) route(ctx context.Context, name, id string, cached bool) (owner string, created bool, err error) {
	if cached {
		c.mu.Lock()
		owner = c.owners[id]
		c.mu.Unlock()
		if owner != "" {
			return owner, false, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ForwardTimeout)
	defer cancel()
	for {
		if isSend(name) {
			owner, err = c.cfg.Store.Owner(ctx, c.key(id))
		} else {
			owner, created, err = c.cfg.Store.Claim(ctx, c.key(id))
		}
		// The store recovering from a restart, or not answering (Redis
		// restarting): ask again until the forward timeout.
		if err == nil || errors.Is(err, cluster.ErrSessionLost) {
			break
		}
		if ctx.Err() == nil {
			c.holdExpiries() // requests for this node's sessions wait too
		}
		select {
		case <-ctx.Done():
			return "", false, err
		case <-time.After(retryEvery):
		}
	}
	if err == nil && owner != "" && owner != c.node {
		c.mu.Lock()
		if len(c.owners) >= maxOwnerCache {
			clear(c.owners) // rare; the store answers again
		}
		c.owners[id] = owner
		c.mu.Unlock()
	}
	return owner, created, err
}

// forget drops session id from the owner cache.
func (c *clusterNode) forget(id string) {
	c.mu.Lock()
	delete(c.owners, id)
	c.mu.Unlock()
}

// serveLost answers a request for a session whose node is gone: a close
// frame for a receiving request, 404 for a send (as an unknown session).
func (c *clusterNode) serveLost(rt route, w http.ResponseWriter, r *http.Request, name, id string) {
	c.forget(id)
	if isSend(name) {
		c.h.serveSession(rt, w, r, name, id) // unknown here: 404
		return
	}
	rt.serve(&c.h.tcfg, endedSessions{}, w, r, id)
}

// storeUnavailable answers a request the node cannot route because the
// session store does not answer.
func storeUnavailable(w http.ResponseWriter) { retryLater(w, "1", "Session store unavailable.") }

// onNodeMessage dispatches a message of the node's topic. It runs on the
// bus's delivery goroutine, so it never blocks. A message that is not
// authenticated, or that names another peer than the exchange's, is
// dropped and counted.
func (c *clusterNode) onNodeMessage(_ string, p []byte) {
	m, err := c.codec.Decode(p)
	if err != nil {
		c.countBad(err)
		return
	}
	if c.direct != nil && m.Addr != "" {
		c.direct.learn(m.From, m.Addr)
	}
	c.dispatch(m, nil)
}

// onDirectMessage dispatches a message that came over the direct
// connection pc, and reports whether the connection may go on: one that
// carries a message not made with the Secret, or from another node than
// its Hello's, is closed.
func (c *clusterNode) onDirectMessage(pc *peerConn, p []byte) bool {
	m, err := c.codec.Decode(p)
	if err != nil {
		c.countBad(err)
		return !errors.Is(err, tunnel.ErrForged)
	}
	if m.From != pc.node || m.Kind == tunnel.KindHello {
		c.stray.Add(1)
		return false
	}
	c.dispatch(m, pc)
	return true
}

// countBad counts (and logs) a message that did not decode.
func (c *clusterNode) countBad(err error) {
	if errors.Is(err, tunnel.ErrForged) {
		if c.forged.Add(1) == 1 {
			c.h.opts.Logger.Error("sockline cluster: dropped a message not made with the cluster secret (a node with another Secret, or someone injecting into Redis or a direct connection); counted in ClusterStats", "node", c.node)
		}
		return
	}
	c.malformed.Add(1)
	c.h.opts.Logger.Warn("sockline cluster: dropped a malformed message", "node", c.node, "err", err)
}

// dispatch hands an authenticated message to its exchange; via is the
// direct connection it came over (nil: the bus).
func (c *clusterNode) dispatch(m *tunnel.Msg, via *peerConn) {
	switch m.Kind {
	case tunnel.KindOpen:
		c.startServed(m, via)
	case tunnel.KindAck, tunnel.KindCancel, tunnel.KindDrain:
		c.mu.Lock()
		s := c.in[m.ID]
		c.mu.Unlock()
		if s == nil && m.Kind == tunnel.KindAck && m.Err != "" {
			c.onLateNack(m) // the final chunk of an ended exchange
			return
		}
		if s == nil || s.edge != m.From {
			c.stray.Add(1)
			return
		}
		s.deliver(m)
	case tunnel.KindChunk, tunnel.KindEnd, tunnel.KindWait:
		c.mu.Lock()
		f := c.out[m.ID]
		c.mu.Unlock()
		if f == nil || f.owner != m.From {
			c.stray.Add(1)
			if f == nil && m.Kind != tunnel.KindEnd && strings.HasPrefix(m.ID, c.node+"/") {
				// An exchange of ours that has ended here while the owner
				// still serves it (our Cancel was lost): without this word
				// it would hold the session's receiver, and the client's
				// next request would be refused as another connection.
				c.goDeliver(m.From, &tunnel.Msg{Kind: tunnel.KindCancel, ID: m.ID})
			}
			return
		}
		f.deliver(m)
	default:
		c.stray.Add(1) // a Hello on the bus
	}
}

// publish sends m to node once and reports how many subscribers heard it
// (1 when the bus cannot tell).
func (c *clusterNode) publish(ctx context.Context, node string, m *tunnel.Msg) (int, error) {
	m.From = c.node
	if c.direct != nil {
		if c.direct.send(node, m) {
			return 1, nil
		}
		m.Addr = c.direct.addr // so that node dials this one
	}
	p := c.codec.Encode(m)
	if counter, ok := c.cfg.Bus.(pubsub.Counter); ok {
		return counter.PublishCount(ctx, c.nodeTopic(node), p)
	}
	return 1, c.cfg.Bus.Publish(ctx, c.nodeTopic(node), p)
}

// errPeerGone reports a message that no subscriber heard, from a node the
// store says is gone.
var errPeerGone = errors.New("sockjs: cluster: the other node is gone")

// retryEvery is how soon a message that did not get through (the bus
// failed, or nobody listened) is sent again.
const retryEvery = 50 * time.Millisecond

// deliver publishes m to node until the node hears it, or ctx ends: a bus
// that fails (Redis restarting) or a node that does not listen yet (it is
// subscribing again after one) is waited for; a node the store says is
// gone gives errPeerGone at once. A node that the store still counts alive
// but that has not listened for a whole forward timeout while the bus
// worked was killed: it is fenced (its sessions lost for every node), and
// errPeerGone returned, rather than having every request wait out its
// lease. Sending a message twice is harmless: the peer ignores what it
// already has (an Open of a known exchange, a chunk or ack of an earlier
// sequence number).
func (c *clusterNode) deliver(ctx context.Context, node string, m *tunnel.Msg) error {
	var deafSince time.Time // since when publishes work and nobody hears
	for {
		if m.Kind == tunnel.KindOpen {
			m.Seq++ // the attempt: an Open sent again may be a duplicate
		}
		n, err := c.publish(ctx, node, m)
		if err == nil && n > 0 {
			return nil
		}
		if errors.Is(err, pubsub.ErrClosed) {
			return err
		}
		if err == nil {
			alive, aerr := c.cfg.Store.Alive(ctx, []string{node})
			switch {
			case aerr == nil && !alive[0]:
				return errPeerGone
			case aerr != nil:
				deafSince = time.Time{} // the store recovers: no verdict now
			case deafSince.IsZero():
				deafSince = time.Now()
			case time.Since(deafSince) >= c.cfg.ForwardTimeout:
				if ferr := c.cfg.Store.Fence(ctx, node); ferr == nil {
					c.h.opts.Logger.Warn("sockline cluster: a node registered as alive has not listened for the forward timeout; it is taken for dead and its sessions end", "node", node)
					return errPeerGone
				}
			}
			err = errors.New("the node does not listen")
		} else {
			deafSince = time.Time{}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sockjs: cluster: %w (%v)", ctx.Err(), err)
		case <-c.done:
			return pubsub.ErrClosed
		case <-time.After(retryEvery):
		}
	}
}

// deliverWithin is deliver bounded by the forward timeout.
func (c *clusterNode) deliverWithin(node string, m *tunnel.Msg) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ForwardTimeout)
	defer cancel()
	return c.deliver(ctx, node, m)
}
