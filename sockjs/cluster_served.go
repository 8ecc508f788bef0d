package sockjs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/internal/frame"
	"github.com/sockline/sockline/internal/tunnel"
	"github.com/sockline/sockline/session"
)

// served is the owner side of an exchange: a request carried here from the
// edge node that holds the client.
type served struct {
	edge      string // the incarnation that opened it: the only one heard
	session   *session.Session
	streaming bool
	ctx       context.Context
	cancel    context.CancelFunc
	acks      chan *tunnel.Msg
	// quietSince is when the edge last heard from this exchange (unix ns):
	// keepalive tells an edge whose response idles that the owner lives.
	quietSince atomic.Int64
	// chunks counts the chunks the edge has acknowledged; draining is set
	// by a Drain that came before the response carried a frame.
	chunks   atomic.Uint64
	draining atomic.Bool
}

// endWhenFramed ends the response at the next frame boundary, once it has
// carried a frame past its prelude (chunk 1): a client takes a response
// that ends with no frame at all for a failed one.
func (s *served) endWhenFramed() {
	if s.chunks.Load() >= 2 {
		s.session.EndReceiver()
		return
	}
	s.draining.Store(true)
}

func (s *served) deliver(m *tunnel.Msg) {
	switch m.Kind {
	case tunnel.KindCancel:
		s.cancel()
		return
	case tunnel.KindDrain:
		// The edge is leaving: end the response at the next frame, without
		// closing the session; the client comes back through another node.
		// A poll waiting for frames gets a heartbeat now.
		if s.streaming {
			s.endWhenFramed()
		} else if !s.session.HeartbeatNow() {
			go s.heartbeatWhenAttached()
		}
		return
	}
	select {
	case s.acks <- m:
	default:
		s.cancel() // a peer that floods acks is broken
	}
}

// heartbeatWhenAttached gives a drained poll its heartbeat once the
// transport has attached it (the Drain may come first), until the exchange
// ends; unanswered, it would wait out the heartbeat delay.
func (s *served) heartbeatWhenAttached() {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if s.session.HeartbeatNow() {
				return
			}
		}
	}
}

// startServed serves a carried request on its own goroutine.
func (c *clusterNode) startServed(m *tunnel.Msg, via *peerConn) {
	rt, known := routes[m.Transport]
	sess, held := c.h.registry.Load(m.Session)
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{edge: m.From, session: sess, streaming: isStreaming(m.Transport), ctx: ctx, cancel: cancel, acks: make(chan *tunnel.Msg, exchangeBuffer)}
	s.quietSince.Store(time.Now().UnixNano())
	c.mu.Lock()
	cur, inFlight := c.in[m.ID]
	prev, ended := c.recent.get(m.ID)
	dup := inFlight || ended
	closing := c.closing
	refuse := closing || len(c.in) >= maxServed || !known || m.Transport == "websocket"
	serve := !dup && !refuse && held
	var answer *tunnel.Msg
	if !dup && !serve {
		// Answered below with one message, which close must wait for and
		// never drop: goDeliver sends nothing once the node stops, which
		// may happen between this check and the answer (the edge then
		// waited a whole forward timeout and answered 504).
		c.farewells.Add(1)
		answer = &tunnel.Msg{Kind: tunnel.KindEnd, ID: m.ID, Err: errGone}
		if refuse && !closing {
			answer = &tunnel.Msg{Kind: tunnel.KindChunk, Final: true, ID: m.ID, Seq: 1, Status: http.StatusServiceUnavailable,
				Header: http.Header{"Content-Type": {"text/plain; charset=UTF-8"}}, Body: []byte("Session node busy.")}
		}
		// A copy of this Open (the edge asking again) gets the same
		// answer: served later, a send refused now would be applied.
		c.recent.add(m.ID, recentExchange{edge: m.From, session: m.Session, answer: keep(answer)})
	}
	if serve {
		c.in[m.ID] = s
		c.wg.Add(1)
		if via != nil {
			c.direct.pinTo(m.ID, via) // the answers go back the way it came
		}
	}
	c.mu.Unlock()
	switch {
	case dup:
		cancel()
		c.answerAgain(m, cur, prev)
		return
	case closing:
		// The node is leaving and holds no session any more; goDeliver
		// may send nothing any more. Unanswered, the edge would wait a whole
		// forward timeout (the client's send gave up first); told the
		// session is gone, it asks the store again at once.
		cancel()
		c.farewell(m.From, answer)
		return
	case !serve: // refused, or not held: the session is gone
		cancel()
		c.reply(m.From, answer)
		return
	}
	var sendDone func()
	if isSend(m.Transport) {
		var ok bool
		if sendDone, ok = c.admitSend("owner/"+m.Session, int64(len(m.Body))); !ok {
			busy := &tunnel.Msg{Kind: tunnel.KindChunk, Final: true, ID: m.ID, Seq: 1, Status: http.StatusServiceUnavailable,
				Header: http.Header{"Content-Type": {"text/plain; charset=UTF-8"}, "Retry-After": {"1"}},
				Body:   []byte("Another send to this session is in progress.")}
			c.mu.Lock()
			delete(c.in, m.ID)
			c.recent.add(m.ID, recentExchange{edge: m.From, session: m.Session, answer: keep(busy)})
			c.mu.Unlock()
			if via != nil {
				c.direct.unpin(m.ID)
			}
			c.wg.Done()
			cancel()
			c.goDeliver(m.From, busy)
			return
		}
	}
	c.h.requests.Add(1) // Shutdown waits for the close frames it carries
	tw := &tunnelWriter{c: c, s: s, id: m.ID, to: m.From, header: http.Header{},
		whole: !isStreaming(m.Transport), receiving: !isSend(m.Transport)}
	go func() {
		defer c.wg.Done()
		if sendDone != nil {
			defer sendDone()
		}
		defer c.h.requests.Done()
		defer func() {
			c.mu.Lock()
			delete(c.in, m.ID)
			c.recent.add(m.ID, recentExchange{edge: m.From, session: m.Session, carried: tw.carried, answer: tw.last})
			c.mu.Unlock()
			if via != nil {
				c.direct.unpin(m.ID)
			}
			cancel()
		}()
		req := &http.Request{
			Method: m.Method, URL: &url.URL{Path: m.Path, RawQuery: m.RawQuery},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Host: "sockline-cluster", RemoteAddr: m.From,
			Body: io.NopCloser(bytes.NewReader(m.Body)), ContentLength: int64(len(m.Body)),
		}
		if m.ContentType != "" {
			req.Header.Set("Content-Type", m.ContentType)
		}
		req = req.WithContext(ctx)
		rt.serve(&c.h.tcfg, ownerSessions{c.h}, tw, req, m.Session)
		tw.end()
	}()
}

// keepalive tells the edge of every carried response that has been quiet
// for a quarter of the forward timeout that the owner is still there (so
// an edge hears at least every half of it); an edge
// that no longer listens (gone) has its exchange cancelled.
func (c *clusterNode) keepalive() {
	quiet := time.Now().Add(-c.cfg.ForwardTimeout / 4).UnixNano()
	type idle struct {
		id string
		s  *served
	}
	var list []idle
	c.mu.Lock()
	for id, s := range c.in {
		if s.quietSince.Load() <= quiet {
			list = append(list, idle{id, s})
		}
	}
	c.mu.Unlock()
	for _, e := range list {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ForwardTimeout/4)
		err := c.deliver(ctx, e.s.edge, &tunnel.Msg{Kind: tunnel.KindWait, ID: e.id})
		cancel()
		switch {
		case errors.Is(err, errPeerGone):
			e.s.cancel() // the edge is gone: its client's request with it
			continue
		case err != nil:
			continue // not heard (a slow bus): again at the next tick, not a quiet period later
		}
		e.s.quietSince.Store(time.Now().UnixNano())
	}
}

// tunnelWriter is the owner's http.ResponseWriter for a carried request:
// each flush becomes a chunk that counts as written once the edge node has
// flushed it to the client. It implements the deadline and flush methods
// http.ResponseController looks for, so the transports' write deadlines
// bound the wait for that acknowledgement.
//
// A whole response (a poll or a send: one frame, or none) is sent as one
// final chunk when the transport returns, so that the client has it after
// two crossings of the bus (open, chunk); its acknowledgement is waited for
// after that, off the client's path, and a poll whose frame the edge could
// not write closes the session, as a failed write does on one node.
type tunnelWriter struct {
	c      *clusterNode
	s      *served
	id, to string
	// whole: send everything as one final chunk at the end; receiving:
	// the response carries frames of the session (not a send's 204);
	// carried: frames have gone out (a late failure closes the session).
	whole, receiving, carried bool
	// last is the exchange's last message (its final chunk, or its End),
	// kept so that it can be sent again to an edge that did not hear it.
	last *tunnel.Msg

	header   http.Header
	status   int
	buf      []byte
	seq      uint64
	acked    uint64 // chunks acknowledged, cumulatively
	deadline time.Time
	err      error
}

// Header implements http.ResponseWriter.
func (t *tunnelWriter) Header() http.Header { return t.header }

// WriteHeader implements http.ResponseWriter.
func (t *tunnelWriter) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
}

// Write implements http.ResponseWriter; bytes go out with the next flush.
func (t *tunnelWriter) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if t.status == 0 {
		t.status = http.StatusOK
	}
	t.buf = append(t.buf, p...)
	return len(p), nil
}

// Flush implements http.Flusher.
func (t *tunnelWriter) Flush() { _ = t.FlushError() }

// FlushError sends what was written as one chunk and waits until the edge
// node has flushed it to the client; a whole response waits for its end.
func (t *tunnelWriter) FlushError() error {
	if t.err != nil || t.whole {
		return t.err
	}
	return t.sendChunk(false)
}

func (t *tunnelWriter) sendChunk(final bool) error {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	t.seq++
	m := &tunnel.Msg{Kind: tunnel.KindChunk, ID: t.id, Seq: t.seq, Body: t.buf, Final: final}
	if t.seq == 1 {
		m.Status, m.Header = t.status, t.header
	}
	if final {
		t.last = keep(m) // t.buf is not written to again
	}
	err := t.deliver(m)
	t.buf = t.buf[:0]
	t.s.quietSince.Store(time.Now().UnixNano())
	if !t.whole && t.seq >= 2 {
		t.carried = true // a stream, past its prelude
	}
	// A final chunk is not waited for: the edge says only when it could not
	// write it (see onLateNack), so that a poll or a send costs two
	// crossings of the bus, not three. A stream's chunks are acknowledged
	// every ackEvery, and the owner waits only when ackWindow chunks are
	// unacknowledged: a failure reported meanwhile ends the stream then.
	if err == nil && !final {
		err = t.awaitAcks(t.seq - min(t.seq, ackWindow-1))
	}
	if err == nil && t.s.chunks.Add(1) >= 2 && t.s.draining.Load() {
		t.s.session.EndReceiver()
	}
	if err != nil {
		t.err = fmt.Errorf("sockjs: cluster: carrying the response to the client's node: %w", err)
	}
	return t.err
}

// deliver delivers m to the edge within the write deadline (else the
// forward timeout), and within the exchange's life.
func (t *tunnelWriter) deliver(m *tunnel.Msg) error {
	ctx, cancel := context.WithTimeout(t.s.ctx, t.c.cfg.ForwardTimeout)
	if !t.deadline.IsZero() {
		ctx, cancel = context.WithDeadline(t.s.ctx, t.deadline)
	}
	defer cancel()
	return t.c.deliver(ctx, t.to, m)
}

// Acknowledgements of a stream's chunks: the edge acknowledges every
// ackEvery-th chunk (and any it could not write at once); the owner has at
// most ackWindow chunks unacknowledged, which also bounds what waits in the
// edge's queue (exchangeBuffer).
const (
	ackEvery  = 4
	ackWindow = 8
)

// awaitAcks takes the acknowledgements that have come, and waits for more
// until every chunk up to seq is acknowledged; a negative one is an error.
func (t *tunnelWriter) awaitAcks(seq uint64) error {
	var timer *time.Timer
	for {
		select {
		case a := <-t.s.acks:
			if err := t.take(a); err != nil {
				return err
			}
			continue
		default:
		}
		if t.acked >= seq {
			return nil
		}
		if timer == nil {
			d := t.c.cfg.ForwardTimeout
			if !t.deadline.IsZero() {
				d = time.Until(t.deadline)
			}
			timer = time.NewTimer(d)
			defer timer.Stop()
		}
		select {
		case a := <-t.s.acks:
			if err := t.take(a); err != nil {
				return err
			}
		case <-t.s.ctx.Done():
			return context.Canceled
		case <-timer.C:
			return fmt.Errorf("%w: chunk %d not acknowledged in time", errExchangeBroken, t.acked+1)
		}
	}
}

// take records an acknowledgement: cumulative, up to a.Seq.
func (t *tunnelWriter) take(a *tunnel.Msg) error {
	switch {
	case a.Kind != tunnel.KindAck:
		return nil
	case a.Err != "":
		return errors.New(a.Err)
	case a.Seq > t.seq:
		return errExchangeBroken
	case a.Seq > t.acked:
		t.acked = a.Seq
	}
	return nil
}

// SetWriteDeadline bounds the wait for the next chunk's acknowledgement.
func (t *tunnelWriter) SetWriteDeadline(d time.Time) error { t.deadline = d; return nil }

// SetReadDeadline does nothing: the body was read on the edge node.
func (t *tunnelWriter) SetReadDeadline(time.Time) error { return nil }

// end sends what is left and closes the exchange; a failure is told to the
// edge (End with the error), which then cuts its client's response at once
// instead of waiting for it.
func (t *tunnelWriter) end() {
	if t.err == nil && (t.whole || len(t.buf) > 0 || t.seq == 0) {
		if t.whole && t.receiving && len(t.buf) > 0 {
			t.carried = true // a poll's frames
		}
		if t.sendChunk(true) == nil {
			return
		}
		if t.carried {
			// The poll's frame may not have reached the client: the session
			// must not go on as if it had (as on one node).
			t.s.session.CloseWith(&session.CloseError{Code: frame.CodeInterrupted, Reason: frame.ReasonInterrupted, Cause: session.ErrWriteFailed})
		}
	}
	m := &tunnel.Msg{Kind: tunnel.KindEnd, ID: t.id, Seq: t.seq}
	if t.err != nil {
		m.Err = t.err.Error()
	}
	t.last = keep(m)
	// Not bounded by the write deadline, which may be what failed.
	ctx, cancel := context.WithTimeout(t.s.ctx, t.c.cfg.ForwardTimeout)
	defer cancel()
	_ = t.c.deliver(ctx, t.to, m)
}

// endedSessions answers every receiving request with the close frame of a
// session whose node was lost, or (shut) that its node's Shutdown closed
// and has forgotten since.
type endedSessions struct{ shut bool }

func (e endedSessions) ended(id string) *session.Session {
	if e.shut {
		return session.NewEnded(id, shutdownClose())
	}
	return session.NewEnded(id, &session.CloseError{Code: CloseSessionLost, Reason: reasonSessionLost, Cause: cluster.ErrSessionLost})
}

// Open implements transports.Sessions.
func (e endedSessions) Open(id, _ string, _ *http.Request) *session.Session { return e.ended(id) }

// OpenConnection implements transports.Sessions.
func (e endedSessions) OpenConnection(id, _ string, _ *http.Request) *session.Session {
	return e.ended(id)
}

// Lookup implements transports.Sessions.
func (e endedSessions) Lookup(string) (*session.Session, bool) { return nil, false }

// ownerSessions is how a carried request finds its session on the owner:
// only among the sessions it holds. One that is gone meanwhile (expired, or
// the node restarted) is answered as lost; nothing is created.
type ownerSessions struct{ h *Handler }

// Open implements transports.Sessions.
func (o ownerSessions) Open(id, _ string, _ *http.Request) *session.Session {
	if s, ok := o.h.registry.Load(id); ok {
		return s
	}
	return endedSessions{shut: o.h.shuttingDown()}.ended(id)
}

// OpenConnection implements transports.Sessions; websockets are never
// carried, so it only answers as lost.
func (o ownerSessions) OpenConnection(id, _ string, _ *http.Request) *session.Session {
	return endedSessions{shut: o.h.shuttingDown()}.ended(id)
}

// Lookup implements transports.Sessions.
func (o ownerSessions) Lookup(id string) (*session.Session, bool) { return o.h.registry.Load(id) }

// onLateNack handles an edge's word that it could not write the final chunk
// of an exchange that has ended here: a poll's frames did not reach the
// client, so its session must not go on as if they had (as on one node).
func (c *clusterNode) onLateNack(m *tunnel.Msg) {
	c.mu.Lock()
	e, ok := c.recent.get(m.ID)
	c.mu.Unlock()
	if !ok || e.edge != m.From {
		c.stray.Add(1)
		return
	}
	if !e.carried {
		return
	}
	if s, ok := c.h.registry.Load(e.session); ok {
		s.CloseWith(&session.CloseError{Code: frame.CodeInterrupted, Reason: frame.ReasonInterrupted, Cause: session.ErrWriteFailed})
	}
}

// farewell sends m to node while the node closes, when goDeliver may no
// longer send: once, within a short bound, on a goroutine that close waits for
// (c.farewells, counted by the caller under c.mu).
func (c *clusterNode) farewell(node string, m *tunnel.Msg) {
	go func() {
		defer c.farewells.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), farewellWithin)
		defer cancel()
		_, _ = c.publish(ctx, node, m)
	}()
}

// reply answers an exchange this node does not serve with one message,
// as goDeliver would, but also once the node stops (close waits for it:
// c.farewells, counted by the caller under c.mu).
func (c *clusterNode) reply(node string, m *tunnel.Msg) {
	go func() {
		defer c.farewells.Add(-1)
		_ = c.deliverWithin(node, m)
	}()
}

// farewellWithin bounds a farewell's publish: the node is shutting down.
const farewellWithin = time.Second
