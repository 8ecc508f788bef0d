package transports

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/session"
)

// streamConn is an HTTP/1.1 streaming response (xhr_streaming,
// eventsource, htmlfile) served on its hijacked connection, for the same
// reason as wsConn: a response served by net/http keeps, for as long as it
// streams, the request's goroutine and its deep stack, net/http's
// background reader goroutine (which watches for the client leaving), and
// about 10 KiB of net/http's buffers, which made an idle streaming session
// cost twice what an idle websocket does. Once the status line, headers
// and prelude are out through net/http (chunked, as net/http chose), the
// handler hijacks the connection and returns; the connection waits in the
// shared poller to see the client leave (a reader goroutine where it
// cannot: TLS, other systems), and a writer runs only while frames are ready,
// writing each as an HTTP/1.1 chunk. The response ends as before, at the
// close frame or the response limit, with the last chunk, and the
// connection is then closed: it cannot go back to net/http's keep-alive
// pool, and the client's next request opens a new one.
//
// HTTP/2 responses, and responses whose ResponseWriter cannot be hijacked
// (a middleware's wrapper without Unwrap, the cluster's carried requests)
// or refuses to be (chi's Compress), are served by net/http as before.
type streamConn struct {
	c       *Config
	fr      *framing
	conn    net.Conn
	rcv     *session.Receiver
	ctx     context.Context // the receiver's: cancelled once the client has left or the response ended
	cancel  context.CancelFunc
	wakes   wakeups // starts at 1 while the handler sets up
	buf     []byte  // the writers'
	written int     // bytes of frames sent, against ResponseLimit
	// deadline is the write deadline set; renewed once half of it has
	// passed (see writer).
	deadline time.Time
	release  func() // from Config.Track
	endOnce  sync.Once
	// finished: the writer ended the response (close frame, limit or
	// failed write), so the reader's end is no news.
	finished atomic.Bool
	// watch, when not nil, waits for the client in the shared poller
	// instead of a reader goroutine (see readable).
	watch *pollWatch
}

// canHijack reports whether w (or a ResponseWriter it wraps) can be
// hijacked, as http.ResponseController finds it, for an HTTP/1.1 request:
// net/http then sends the response chunked, as streamConn goes on. (An
// HTTP/1.0 response is not chunked; it is rare enough to be left to
// net/http.) Hijack may still fail: only calling it tells.
func canHijack(w http.ResponseWriter, r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return false
	}
	for {
		if _, ok := w.(http.Hijacker); ok {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

// newStreamConn prepares a stream on conn, hijacked once the headers and
// prelude were out; attach it with sess.AttachFunc(sc.ctx, sc.wake), then
// call start (or end).
func (c *Config) newStreamConn(fr *framing, conn net.Conn) *streamConn {
	_ = conn.SetDeadline(time.Time{})
	sc := &streamConn{c: c, fr: fr, conn: conn}
	sc.ctx, sc.cancel = context.WithCancel(context.Background())
	sc.wakes.n.Store(1) // no writer until start
	return sc
}

// start hands the stream to its reader and writers; the handler may then
// return.
func (sc *streamConn) start(rcv *session.Receiver) {
	sc.rcv = rcv
	sc.release = func() {}
	if sc.c.Track != nil {
		sc.release = sc.c.Track()
	}
	sc.watch = newPollWatch(sc.conn, sc.readable)
	if sc.watch == nil || sc.watch.arm() != nil {
		sc.watch = nil
		go sc.read()
	}
	startWriter(sc) // serves the wakes counted while setting up
}

// end ends a stream that was not started with p, its only frame.
func (sc *streamConn) end(p []byte) {
	sc.cancel()
	_ = sc.send(append(appendChunk(nil, p), "0\r\n\r\n"...))
	_ = sc.conn.Close()
}

// wake hands sc to a writer unless one is at work on it.
func (sc *streamConn) wake() { sc.wakes.wake(sc) }

// write sends every frame that is ready, then ends (see wakeups).
func (sc *streamConn) write() { sc.wakes.drain(sc.writeReady) }

// writeReady writes every frame that is ready; false means the response
// is over.
func (sc *streamConn) writeReady() bool {
	for {
		f, ok, err := sc.rcv.TryNext()
		if err != nil {
			return false
		}
		if !ok {
			return true
		}
		sc.buf = sc.fr.wrap(sc.buf[:0], nil, f.Data)
		payload := len(sc.buf)
		// The chunk goes after the payload in the same buffer, and only it
		// is written.
		sc.buf = appendChunk(sc.buf, sc.buf[:payload])
		chunk := sc.buf[payload:]
		sc.written += payload
		last := f.Kind == session.KindClose || sc.written >= sc.c.ResponseLimit
		if last {
			chunk = append(chunk, "0\r\n\r\n"...)
			// Before the write: a client that has read the end of the
			// response (its close frame, R-CLOSE-1, or the response limit)
			// may at once close this connection and open its next request
			// before this goroutine runs again. That request must find the
			// session free, and the reader must not take the close for the
			// client leaving mid-stream.
			sc.rcv.Release()
			sc.finished.Store(true)
		}
		if err := sc.send(chunk); err != nil {
			sc.rcv.Interrupt(session.ErrWriteFailed)
			sc.finish()
			return false
		}
		if cap(sc.buf) > maxKeptReadBuffer {
			sc.buf = nil // idle streams keep no large buffer
		}
		if last {
			sc.finish()
			return false
		}
	}
}

// appendChunk appends p to dst as one HTTP/1.1 chunk.
func appendChunk(dst, p []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(p)), 16)
	dst = append(dst, '\r', '\n')
	dst = append(dst, p...)
	return append(dst, '\r', '\n')
}

// send writes p under the write timeout, kept between writes and renewed
// once half of it has passed, as writer does for HTTP/1.1.
func (sc *streamConn) send(p []byte) error {
	if t := sc.c.WriteTimeout; t > 0 {
		now := time.Now()
		if sc.deadline.Sub(now) < t/2 {
			sc.deadline = now.Add(t)
			_ = sc.conn.SetWriteDeadline(sc.deadline)
		}
	}
	_, err := sc.conn.Write(p)
	return err
}

// finish ends the response from the writer's side: the receiver detaches
// (the disconnect delay starts now, after the last write), and closing
// the connection ends the reader, which releases the rest.
func (sc *streamConn) finish() {
	sc.finished.Store(true)
	sc.rcv.Detach()
	sc.cancel()
	_ = sc.conn.Close()
	if sc.watch != nil && sc.watch.forget() {
		sc.readEnded() // the poller will not see the closed connection
	}
}

// pollReads bounds the reads readable makes before it lets the poller
// serve other connections: a client that keeps sending holds it no longer.
const pollReads = 16

// readable runs on the poller's goroutine once the client has sent
// something or gone: bytes are ignored, as read does, and the stream
// waits again; the client's end ends it on a goroutine of its own.
func (sc *streamConn) readable() {
	var b [64]byte
	for range pollReads {
		_, wait, err := sc.watch.readNow(b[:])
		if err != nil {
			go sc.readEnded()
			return
		}
		if wait {
			break
		}
	}
	if sc.watch.arm() != nil {
		go sc.readEnded()
	}
}

// read waits for the client to leave (or for finish to close the
// connection). Bytes the client sends meanwhile are ignored: a client
// that pipelines a request on a streaming response gets no answer to it,
// as it would not from net/http before the stream ended.
func (sc *streamConn) read() {
	var b [64]byte
	for {
		if _, err := sc.conn.Read(b[:]); err != nil {
			break
		}
	}
	sc.readEnded()
}

// readEnded releases the stream once the client has gone or the
// connection was closed.
func (sc *streamConn) readEnded() {
	sc.endOnce.Do(func() {
		sc.cancel()
		// Unless the writer ended the response, the client left
		// mid-stream: the session is interrupted, as when net/http cancels
		// the request's context on the served path.
		if !sc.finished.Load() {
			sc.rcv.Interrupt(session.ErrClientClosed)
		}
		_ = sc.conn.Close()
		sc.release()
	})
}
