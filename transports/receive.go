package transports

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/sockline/sockline/internal/frame"
	"github.com/sockline/sockline/session"
)

// framing is one HTTP receiving transport's envelope: the only part of a
// polling or streaming transport that differs from the others.
type framing struct {
	name        string
	contentType string
	// nosniff adds "X-Content-Type-Options: nosniff", for envelopes a
	// browser could otherwise take for another type (HTML, script).
	nosniff bool
	// streaming responses carry many frames until the response limit;
	// polling responses carry exactly one.
	streaming bool
	// prelude, when set, is written first (after validation); it may look
	// at the request (a callback name). It returns nil to write nothing.
	prelude func(r *http.Request) []byte
	// wrap appends one frame in the transport's envelope.
	wrap func(dst []byte, r *http.Request, f []byte) []byte
	// check, when set, validates the request before anything is written;
	// it writes the error response itself and returns false.
	check func(w http.ResponseWriter, r *http.Request) bool
}

// Receive serves one receiving request with the given framing: the shared
// logic of every polling and streaming transport.
func (c *Config) receive(sessions Sessions, fr *framing, w http.ResponseWriter, r *http.Request, id string) {
	if fr.check != nil && !fr.check(w, r) {
		return
	}
	// Go notices a client that went away only once the request body has
	// been read, so read it (a polling body is empty or ignored). Once it
	// is read, the server's read timeout has done its job; the response may
	// stay open far longer.
	n, err := io.Copy(io.Discard, io.LimitReader(r.Body, c.MaxMessageBytes+1))
	if err == nil && n <= c.MaxMessageBytes {
		clearReadDeadline(w)
	}
	sess := sessions.Open(id, fr.name, r)
	h := w.Header()
	h.Set("Content-Type", fr.contentType)
	if fr.nosniff {
		h.Set("X-Content-Type-Options", "nosniff")
	}
	NoCache(h)
	hijack := fr.streaming && canHijack(w, r)
	if fr.streaming {
		// nginx buffers proxied responses unless told not to, which would
		// hold frames back until its buffer fills.
		h.Set("X-Accel-Buffering", "no")
	}
	if hijack {
		// The connection ends with the response (see streamConn): a client
		// told so opens a new one for its next request instead of reusing
		// this one and finding it closed (a POST is not retried).
		h.Set("Connection", "close")
	}
	w.WriteHeader(http.StatusOK)

	out := newWriter(w, r, c.WriteTimeout)
	defer out.finish()
	var buf []byte
	if fr.prelude != nil {
		if p := fr.prelude(r); p != nil {
			if out.write(p) != nil {
				return
			}
		}
	}
	out.written = 0 // the prelude does not count towards the response limit
	if hijack {
		// A wrapper may offer Hijack and still refuse it (chi's Compress does
		// for what it compresses): net/http then serves the stream, below.
		// What net/http buffered of the client's input does not matter: the
		// client sends nothing more while it waits for the response.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			out.deadline = time.Time{} // conn's deadline is the stream writer's now: finish must not clear it
			c.streamHijacked(sess, fr, conn)
			return
		}
	}
	rcv, err := sess.Attach(r.Context())
	if err != nil { // another receiver is attached: it goes on, this one ends
		c.anotherConnection(fr.name)
		buf = fr.wrap(buf[:0], r, frame.AppendClose(nil, frame.CodeAnotherConnection, frame.ReasonAnotherConnection))
		_ = out.write(buf)
		return
	}
	defer rcv.Detach() // after the last write: the disconnect delay starts here
	// One response carries at most about ResponseLimit bytes of messages,
	// so that a long queue goes out over several responses, each write
	// under its own deadline, rather than all at once.
	rcv.LimitBatch(c.ResponseLimit)
	for {
		var f session.Frame
		if fr.streaming {
			f, err = rcv.Next(r.Context())
		} else {
			f, err = rcv.NextAndDetach(r.Context())
		}
		if err != nil {
			if !errors.Is(err, session.ErrDetached) {
				rcv.Interrupt(session.ErrClientClosed)
			}
			return
		}
		if f.Kind == session.KindClose {
			// Free the session before the client can read the close frame:
			// a receiver it opens as soon as it has read it must get the
			// close frame again, not 2010 (protocol rule R-CLOSE-1).
			rcv.Release()
		}
		buf = fr.wrap(buf[:0], r, f.Data)
		if err := out.write(buf); err != nil {
			if fr.streaming {
				rcv.Interrupt(session.ErrWriteFailed)
			} else {
				// Already detached: the frame is lost, so the session must not
				// go on as if the client had it.
				sess.CloseWith(&session.CloseError{Code: frame.CodeInterrupted, Reason: frame.ReasonInterrupted, Cause: session.ErrWriteFailed})
			}
			return
		}
		if !fr.streaming || f.Kind == session.KindClose || out.written >= c.ResponseLimit {
			return
		}
	}
}

// streamHijacked serves a streaming response on its hijacked connection
// (see streamConn), once the headers and prelude are out.
func (c *Config) streamHijacked(sess *session.Session, fr *framing, conn net.Conn) {
	sc := c.newStreamConn(fr, conn)
	rcv, err := sess.AttachFunc(sc.ctx, sc.wake)
	if err != nil { // another receiver is attached: it goes on, this one ends
		c.anotherConnection(fr.name)
		sc.end(fr.wrap(nil, nil, frame.AppendClose(nil, frame.CodeAnotherConnection, frame.ReasonAnotherConnection)))
		return
	}
	rcv.LimitBatch(c.ResponseLimit)
	sc.start(rcv)
}

// newlineFrame is the xhr envelope: the frame and a newline.
func newlineFrame(dst []byte, _ *http.Request, f []byte) []byte {
	dst = append(dst, f...)
	return append(dst, '\n')
}

// xhrPrelude is 2 KiB of 'h' and a newline: some browsers (old IE) buffer
// the start of a streaming XHR response before they expose any of it.
var xhrPrelude = func() []byte {
	p := make([]byte, 2049)
	for i := range 2048 {
		p[i] = 'h'
	}
	p[2048] = '\n'
	return p
}()

var (
	xhrPolling = &framing{
		name:        NameXHR,
		contentType: "application/javascript; charset=UTF-8",
		wrap:        newlineFrame,
	}
	xhrStreaming = &framing{
		name:        NameXHRStreaming,
		contentType: "application/javascript; charset=UTF-8",
		streaming:   true,
		prelude:     func(*http.Request) []byte { return xhrPrelude },
		wrap:        newlineFrame,
	}
)

// XHRPolling serves POST {prefix}/{server}/{session}/xhr: one frame per
// response.
func (c *Config) XHRPolling(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	c.receive(s, xhrPolling, w, r, id)
}

// XHRStreaming serves POST {prefix}/{server}/{session}/xhr_streaming: a
// prelude, then frames until the response limit.
func (c *Config) XHRStreaming(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	c.receive(s, xhrStreaming, w, r, id)
}
