package sockjs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sockline/sockline/internal/tunnel"
)

// exchangeBuffer is how many messages of one exchange may wait for its
// goroutine; the peer sends one chunk (or ack) and waits, so a full buffer
// means a broken peer, and the exchange fails.
const exchangeBuffer = 16

// errExchangeBroken reports a message lost between nodes, or a peer that
// does not follow the exchange.
var errExchangeBroken = errors.New("sockjs: cluster: a message between nodes was lost")

// errGone is the error of an owner's End for a session it does not hold
// (released meanwhile): the edge asks the store again.
const errGone = "gone"

// forward is the edge side of an exchange: a client's request carried to the
// session's owner, whose response it writes to the client.
type forward struct {
	owner  string // the incarnation it was sent to: the only one heard
	msgs   chan *tunnel.Msg
	broken chan struct{} // closed when a message could not be queued
	once   sync.Once
}

func (f *forward) deliver(m *tunnel.Msg) {
	select {
	case f.msgs <- m:
	default:
		f.once.Do(func() { close(f.broken) })
	}
}

// Bounds of carried sends. On one node a session takes one send at a time
// and reserves room for its body before reading it; carried, a body is read
// on the edge and held on the owner while it waits its turn, so both sides
// bound what they hold: per session (a well-behaved client has one send in
// flight), and per node, so that a burst stays far below what Redis lets a
// subscriber fall behind by (client-output-buffer-limit pubsub, 8 MiB over
// 60 s by default) before it disconnects it and every carried session of
// that node with it.
const (
	maxCarriedSendsPerSession = 2
	maxCarriedSendBytes       = 4 << 20
)

// sendSize is what a send may hold: its declared length, or the most it may
// be.
func (c *clusterNode) sendSize(r *http.Request) int64 {
	if n := r.ContentLength; n >= 0 && n <= c.h.tcfg.MaxMessageBytes {
		return n
	}
	return c.h.tcfg.MaxMessageBytes
}

// admitSend takes room for a carried send of size bytes for key (side and
// session), or reports that there is none; done gives it back.
func (c *clusterNode) admitSend(key string, size int64) (done func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sends[key] >= maxCarriedSendsPerSession || c.sendBytes+size > maxCarriedSendBytes && c.sendBytes > 0 {
		return nil, false
	}
	c.sends[key]++
	c.sendBytes += size
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.sendBytes -= size
		if c.sends[key]--; c.sends[key] == 0 {
			delete(c.sends, key)
		}
	}, true
}

// sendBusy answers a carried send that finds no room: as on one node when
// another send to the session is in progress.
func sendBusy(w http.ResponseWriter) {
	retryLater(w, "1", "Another send to this session is in progress.")
}

// readBody reads a send's body (bounded as on one node), and drains a
// receiving request's, before the request is carried.
func (c *clusterNode) readBody(w http.ResponseWriter, r *http.Request, name string) ([]byte, bool) {
	if !isSend(name) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, c.h.tcfg.MaxMessageBytes))
		return nil, true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.h.tcfg.MaxMessageBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "Payload too large.", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "Payload could not be read.", http.StatusBadRequest)
		}
		return nil, false
	}
	return body, true
}

// forward carries request r of session id to node owner and writes its
// response. It reports gone when the owner no longer holds the session,
// before anything was written: the caller may route it again.
func (c *clusterNode) forward(rt route, w http.ResponseWriter, r *http.Request, name, id, owner string, body []byte) (gone bool) {
	start, outcome := time.Now(), carriedOK
	var firstByte time.Duration
	if ev := c.h.opts.Events; ev != nil {
		defer func() {
			if !gone {
				ev.CarriedRequest(name, firstByte, outcome)
			}
		}()
	}
	rc := http.NewResponseController(w)
	// The body is read: the application's ReadTimeout must not cut a long
	// response.
	_ = rc.SetReadDeadline(time.Time{})

	exID := c.node + "/" + strconv.FormatUint(c.seq.Add(1), 36)
	f := &forward{owner: owner, msgs: make(chan *tunnel.Msg, exchangeBuffer), broken: make(chan struct{})}
	c.mu.Lock()
	c.out[exID] = f
	c.mu.Unlock()
	c.forwards.Add(1)
	c.lastForward.Store(time.Now().UnixNano())
	if c.direct != nil && c.direct.pin(exID, owner) {
		defer c.direct.unpin(exID)
	}
	defer func() {
		c.mu.Lock()
		delete(c.out, exID)
		c.mu.Unlock()
		c.forwards.Done()
	}()
	open := &tunnel.Msg{
		Kind: tunnel.KindOpen, ID: exID, Session: id, Transport: name,
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"), Body: body,
	}
	// A little over the forward timeout, so that a node that never listens
	// is found dead (fenced) within it.
	octx, cancel := context.WithTimeout(r.Context(), c.cfg.ForwardTimeout+c.cfg.ForwardTimeout/4)
	err := c.deliver(octx, owner, open)
	cancel()
	switch {
	case errors.Is(err, errPeerGone):
		outcome = carriedLost
		c.serveLost(rt, w, r, name, id)
		return false
	case err != nil:
		outcome = carriedUnreachable
		c.h.opts.Logger.Warn("sockline cluster: carrying a request to its session's node failed", "session", id, "node", owner, "err", err)
		nodeUnreachable(w)
		return false
	}
	cancelRemote := func() { c.goDeliver(owner, &tunnel.Msg{Kind: tunnel.KindCancel, ID: exID}) }

	// The owner answers, or says it is still there, at least every third
	// of the forward timeout: silence for a whole one means it is gone.
	timer := time.NewTimer(c.cfg.ForwardTimeout)
	defer timer.Stop()
	// Silence for probeAfter may be a message the bus lost: ask again.
	probe := time.NewTimer(c.probeAfter())
	defer probe.Stop()
	drain := c.drain
	if isSend(name) {
		drain = nil // a send ends by itself at once
	}
	var next uint64 = 1
	for {
		select {
		case m := <-f.msgs:
			timer.Reset(c.cfg.ForwardTimeout)
			probe.Reset(c.probeAfter())
			switch m.Kind {
			case tunnel.KindWait:
				continue
			case tunnel.KindEnd:
				if m.Err == errGone && next == 1 {
					c.forget(id)
					return true
				}
				if m.Err != "" || m.Seq != next-1 {
					outcome = carriedAborted
					c.abort(w, next > 1, "the session's node failed the response: "+m.Err)
				}
				return false
			case tunnel.KindChunk:
				if m.Seq < next {
					// Sent again (the owner's publish failed as Redis went
					// down, yet reached us): acknowledge it again.
					c.goDeliver(owner, &tunnel.Msg{Kind: tunnel.KindAck, ID: exID, Seq: m.Seq})
					continue
				}
				if m.Seq != next {
					cancelRemote()
					outcome = carriedAborted
					c.abort(w, next > 1, "a chunk between nodes was lost")
					return false
				}
				next++
				if m.Seq == 1 {
					firstByte = time.Since(start)
					hd := w.Header()
					for k, v := range m.Header {
						hd[k] = v
					}
					w.WriteHeader(m.Status)
				}
				err := c.writeChunk(rc, w, m.Body)
				ack := &tunnel.Msg{Kind: tunnel.KindAck, ID: exID, Seq: m.Seq}
				if err != nil {
					ack.Err = err.Error()
					outcome = carriedClientGone
				}
				if m.Final {
					// The owner does not wait for a final chunk's
					// acknowledgement: it hears only of a failure, and then
					// closes the session (a send's answer carries no frame).
					if err != nil && !isSend(name) {
						c.goDeliver(owner, ack)
					}
					return false
				}
				switch {
				case err != nil:
					// The owner hears of it with its next chunk at the latest.
					_ = c.deliverWithin(owner, ack)
					return false
				case m.Seq%ackEvery == 0:
					c.goDeliver(owner, ack) // cumulative; the owner waits only on a full window
				}
			}
		case <-probe.C:
			c.probe(owner, open, next-1)
		case <-drain:
			drain = nil
			c.goDeliver(owner, &tunnel.Msg{Kind: tunnel.KindDrain, ID: exID})
		case <-f.broken:
			cancelRemote()
			outcome = carriedAborted
			c.abort(w, next > 1, "messages between nodes were lost")
			return false
		case <-r.Context().Done():
			cancelRemote()
			outcome = carriedClientGone
			return false
		case <-c.done:
			cancelRemote()
			outcome = carriedAborted
			c.abort(w, next > 1, "the node stopped")
			return false
		case <-timer.C:
			cancelRemote()
			outcome = carriedTimeout
			c.h.opts.Logger.Warn("sockline cluster: the session's node went silent on a carried request", "session", id, "node", owner, "transport", name, "chunks", next-1)
			if next == 1 {
				http.Error(w, "The session's node did not answer.", http.StatusGatewayTimeout)
				return false
			}
			c.abort(w, true, "the session's node went silent")
			return false
		}
	}
}

// Outcomes of a carried request, as Events.CarriedRequest reports them.
const (
	carriedOK          = "ok"          // the owner's response ended normally
	carriedTimeout     = "timeout"     // the owner went silent for ForwardTimeout
	carriedUnreachable = "unreachable" // the request could not be handed to the owner
	carriedLost        = "lost"        // the session's node is gone: the client got its close frame
	carriedAborted     = "aborted"     // the response failed on the way (lost chunks, a failed owner, a node stopping)
	carriedClientGone  = "client_gone" // the client left before the response ended
)

// goDeliver delivers m (within the forward timeout) on a goroutine of the
// node's; once the node stops, it sends nothing.
func (c *clusterNode) goDeliver(node string, m *tunnel.Msg) {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		_ = c.deliverWithin(node, m)
	}()
}

// abort ends a carried response that failed. Before its headers it answers
// 502. After them (a stream) it ends the response where it is, at a chunk
// boundary: every frame the client has is whole and was acknowledged, and
// the owner counts what was not acknowledged as a failed write, closing
// the session. So the client reconnects, as after a response limit, and
// learns the session's fate from its close frame (1002, or 1011 when the
// owner is gone), which sockjs-client would not do after a cut connection.
func (c *clusterNode) abort(w http.ResponseWriter, started bool, why string) {
	c.h.opts.Logger.Debug("sockline cluster: carried response ended early", "why", why)
	if started {
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = w.Write([]byte("The session's node failed the request."))
}

// nodeUnreachable answers a request whose session's node is registered but
// cannot be reached.
func nodeUnreachable(w http.ResponseWriter) {
	retryLater(w, "1", "The session's node cannot be reached.")
}

// writeChunk writes and flushes p within the write timeout.
func (c *clusterNode) writeChunk(rc *http.ResponseController, w http.ResponseWriter, p []byte) error {
	if t := c.h.tcfg.WriteTimeout; t > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(t))
		defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	}
	if len(p) > 0 {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
