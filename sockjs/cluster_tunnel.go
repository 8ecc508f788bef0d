package sockjs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// forward is the edge side of an exchange: a client's request carried to the
// session's owner, whose response it writes to the client.
type forward struct {
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

// forward carries request r of session id to node owner and writes its
// response.
func (c *clusterNode) forward(w http.ResponseWriter, r *http.Request, name, id, owner string) {
	rc := http.NewResponseController(w)
	var body []byte
	if isSend(name) {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, c.h.tcfg.MaxMessageBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "Payload too large.", http.StatusRequestEntityTooLarge)
			} else {
				http.Error(w, "Payload could not be read.", http.StatusBadRequest)
			}
			return
		}
	} else {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, c.h.tcfg.MaxMessageBytes))
	}
	// The body is read: the application's ReadTimeout must not cut a long
	// response.
	_ = rc.SetReadDeadline(time.Time{})

	exID := c.node + "/" + strconv.FormatUint(c.seq.Add(1), 36)
	f := &forward{msgs: make(chan *tunnel.Msg, exchangeBuffer), broken: make(chan struct{})}
	c.mu.Lock()
	c.out[exID] = f
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.out, exID)
		c.mu.Unlock()
	}()
	open := &tunnel.Msg{
		Kind: tunnel.KindOpen, ID: exID, From: c.node, Session: id, Transport: name,
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host,
		RemoteAddr: r.RemoteAddr, TLS: r.TLS != nil, Header: r.Header, Body: body,
	}
	if err := c.publish(owner, open); err != nil {
		c.h.opts.Logger.Warn("sockline cluster: carrying a request to its session's node failed", "session", id, "node", owner, "err", err)
		storeUnavailable(w)
		return
	}
	cancelRemote := func() { _ = c.publish(owner, &tunnel.Msg{Kind: tunnel.KindCancel, ID: exID}) }

	// Until the first chunk the owner must answer within the forward
	// timeout; after it, a response may idle up to a heartbeat, so wait a
	// heartbeat more before asking the store whether the owner still lives.
	idle := c.cfg.ForwardTimeout
	if hb := c.h.opts.HeartbeatDelay; hb > 0 {
		idle += hb
	}
	timer := time.NewTimer(c.cfg.ForwardTimeout)
	defer timer.Stop()
	var next uint64 = 1
	for {
		select {
		case m := <-f.msgs:
			switch m.Kind {
			case tunnel.KindEnd:
				return
			case tunnel.KindChunk:
				if m.Seq != next {
					cancelRemote()
					return // the client sees the response cut and reconnects
				}
				next++
				if m.Seq == 1 {
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
				}
				if perr := c.publish(owner, ack); perr != nil || err != nil {
					return
				}
				timer.Reset(idle)
			}
		case <-f.broken:
			cancelRemote()
			return
		case <-r.Context().Done():
			cancelRemote()
			return
		case <-c.done:
			return
		case <-timer.C:
			if next == 1 {
				cancelRemote()
				http.Error(w, "The session's node did not answer.", http.StatusGatewayTimeout)
				return
			}
			// Idle: the owner may have died. Its lease tells.
			ctx, cancel := context.WithTimeout(r.Context(), c.cfg.ForwardTimeout)
			o, err := c.cfg.Store.Owner(ctx, c.key(id))
			cancel()
			if err != nil || o != owner {
				cancelRemote()
				return
			}
			timer.Reset(idle)
		}
	}
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

// served is the owner side of an exchange: a request carried here from the
// edge node that holds the client.
type served struct {
	ctx    context.Context
	cancel context.CancelFunc
	acks   chan *tunnel.Msg
}

func (s *served) deliver(m *tunnel.Msg) {
	if m.Kind == tunnel.KindCancel {
		s.cancel()
		return
	}
	select {
	case s.acks <- m:
	default:
		s.cancel() // a peer that floods acks is broken
	}
}

// startServed serves a carried request on its own goroutine.
func (c *clusterNode) startServed(m *tunnel.Msg) {
	rt, known := routes[m.Transport]
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{ctx: ctx, cancel: cancel, acks: make(chan *tunnel.Msg, exchangeBuffer)}
	c.mu.Lock()
	refuse := c.closing || len(c.in) >= maxServed || !known || m.Transport == "websocket"
	if !refuse {
		c.in[m.ID] = s
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if refuse {
		cancel()
		go func() { // not on the bus's goroutine
			_ = c.publish(m.From, &tunnel.Msg{Kind: tunnel.KindChunk, ID: m.ID, Seq: 1, Status: http.StatusServiceUnavailable,
				Header: http.Header{"Content-Type": {"text/plain; charset=UTF-8"}}, Body: []byte("Session node busy.")})
			_ = c.publish(m.From, &tunnel.Msg{Kind: tunnel.KindEnd, ID: m.ID, Seq: 1})
		}()
		return
	}
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.in, m.ID)
			c.mu.Unlock()
			cancel()
		}()
		req := &http.Request{
			Method: m.Method, URL: &url.URL{Path: m.Path, RawQuery: m.RawQuery},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: m.Header, Host: m.Host, RemoteAddr: m.RemoteAddr,
			Body: io.NopCloser(bytes.NewReader(m.Body)), ContentLength: int64(len(m.Body)),
		}
		if req.Header == nil {
			req.Header = http.Header{}
		}
		if m.TLS {
			req.TLS = &tls.ConnectionState{}
		}
		req = req.WithContext(ctx)
		tw := &tunnelWriter{c: c, s: s, id: m.ID, to: m.From, header: http.Header{}}
		rt.serve(&c.h.tcfg, ownerSessions{c.h}, tw, req, m.Session)
		tw.end()
	}()
}

// tunnelWriter is the owner's http.ResponseWriter for a carried request:
// each flush becomes a chunk that counts as written once the edge node has
// flushed it to the client. It implements the deadline and flush methods
// http.ResponseController looks for, so the transports' write deadlines
// bound the wait for that acknowledgement.
type tunnelWriter struct {
	c      *clusterNode
	s      *served
	id, to string

	header   http.Header
	status   int
	buf      []byte
	seq      uint64
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
// node has flushed it to the client.
func (t *tunnelWriter) FlushError() error {
	if t.err != nil {
		return t.err
	}
	if t.status == 0 {
		t.status = http.StatusOK
	}
	t.seq++
	m := &tunnel.Msg{Kind: tunnel.KindChunk, ID: t.id, Seq: t.seq, Body: t.buf}
	if t.seq == 1 {
		m.Status, m.Header = t.status, t.header
	}
	err := t.c.publish(t.to, m)
	t.buf = t.buf[:0]
	if err == nil {
		err = t.awaitAck()
	}
	if err != nil {
		t.err = fmt.Errorf("sockjs: cluster: carrying the response to the client's node: %w", err)
	}
	return t.err
}

func (t *tunnelWriter) awaitAck() error {
	d := t.c.cfg.ForwardTimeout
	if !t.deadline.IsZero() {
		d = time.Until(t.deadline)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case a := <-t.s.acks:
			switch {
			case a.Seq < t.seq:
				continue // a late duplicate cannot happen on an at-most-once bus; ignore
			case a.Seq > t.seq:
				return errExchangeBroken
			case a.Err != "":
				return errors.New(a.Err)
			}
			return nil
		case <-t.s.ctx.Done():
			return context.Canceled
		case <-timer.C:
			return fmt.Errorf("%w: no acknowledgement within %v", errExchangeBroken, d)
		}
	}
}

// SetWriteDeadline bounds the wait for the next chunk's acknowledgement.
func (t *tunnelWriter) SetWriteDeadline(d time.Time) error { t.deadline = d; return nil }

// SetReadDeadline does nothing: the body was read on the edge node.
func (t *tunnelWriter) SetReadDeadline(time.Time) error { return nil }

// end sends what is left and closes the exchange.
func (t *tunnelWriter) end() {
	if t.err == nil && (len(t.buf) > 0 || t.seq == 0) {
		if t.FlushError() != nil {
			return
		}
	}
	if t.err == nil {
		_ = t.c.publish(t.to, &tunnel.Msg{Kind: tunnel.KindEnd, ID: t.id, Seq: t.seq})
	}
}
