package transports

import (
	"bufio"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/session"
)

// DefaultWebSocketReadBufferSize is the read buffer a websocket connection
// gets when WSOptions.ReadBufferSize is zero. It is small because an idle
// connection with a reader goroutine holds it for its whole life (one
// waiting in the poller lends it out); messages longer than it are still
// read whole (through the buffer a piece at a time).
const DefaultWebSocketReadBufferSize = 512

// wsConn is a websocket session connection after its handshake. The HTTP
// handler that upgraded it returns at once, so that the connection does not
// keep net/http's goroutine, its deep stack and its buffers for its whole
// life. What remains is a reader (waiting in the shared poller while idle,
// see wspoll.go; a goroutine where it cannot), and a writing goroutine
// only while there is something to write: the session calls wake (through
// session.AttachFunc) whenever a frame may be ready, and wake hands the
// connection to a writer (writers.go) unless one is at work on it.
// Writers never overlap, so one goroutine at a time owns the connection's
// writes; control frames (pings, the reader's
// close answers) go through gorilla's WriteControl, which may be called
// concurrently.
//
// An idle connection therefore costs no writer stack at all, and a
// broadcast wakes a few warm writers instead of one goroutine per session.
type wsConn struct {
	c    *Config
	conn *websocket.Conn
	sess *session.Session
	rcv  *session.Receiver
	raw  bool // raw websocket: no SockJS framing
	// ctx is cancelled once the connection is closing: the close frame was
	// written, a write failed, or the reader ended. The reader stops
	// extending its deadline and delivering messages then.
	ctx    context.Context
	cancel context.CancelFunc
	wakes  wakeups
	// lingering bounds how long the connection waits for the peer's close
	// answer once our close frame is out; the reader stops it.
	lingering atomic.Pointer[time.Timer]
	release   func() // from Config.Track
	text      []byte // rawText's buffer, the writers'

	// The reader's (one at a time: see wspoll.go).
	rbuf []byte   // readMessage's buffer
	msgs []string // the decoded batch being delivered
	// br is gorilla's read buffer when upgrade could lend it (nil else);
	// with it, and a descriptor to poll, an idle connection waits in the
	// shared poller (watch) instead of a reader goroutine.
	br      *bufio.Reader
	spare   *bufio.Reader // an emptied reader kept for lendReadBuffer
	watch   *pollWatch
	silence *time.Timer // ends a silent connection waiting in the poller
	// deadline is the read deadline last set, in Unix nanoseconds.
	deadline atomic.Int64
	// The reader's wait between messages (wsactive.go), guarded by rmu.
	rmu        sync.Mutex
	rstate     uint8       // readerParked, ...
	rbusy      bool        // a message came since ridle was armed
	ridleArmed bool        // ridle will run evict
	ridle      *time.Timer // evicts a reader that waits too long

	endOnce sync.Once
}

// serveWS runs a SockJS (raw false) or raw websocket session on conn and
// returns at once; the connection goes on without the caller.
func (c *Config) serveWS(conn *websocket.Conn, br *bufio.Reader, sess *session.Session, raw bool, onBusy func()) {
	wc := &wsConn{c: c, conn: conn, sess: sess, raw: raw, br: br}
	wc.ctx, wc.cancel = context.WithCancel(context.Background())
	// A message sent while this sets up wakes the connection before wc.rcv
	// is set: count such wakes, but start no writer until it is.
	wc.wakes.n.Store(1)
	rcv, err := sess.AttachFunc(wc.ctx, wc.wake)
	if err != nil {
		wc.cancel()
		onBusy()
		_ = conn.Close()
		return
	}
	wc.rcv = rcv
	rcv.EnablePings()
	wc.release = func() {}
	if c.Track != nil {
		wc.release = c.Track()
	}
	conn.SetPongHandler(func(string) error {
		wc.extendReadDeadline()
		return nil
	})
	wc.startReading()
	startWriter(wc) // the open frame is ready, and what was counted meanwhile
}

// wake hands wc to a writer unless one is at work on it.
func (wc *wsConn) wake() { wc.wakes.wake(wc) }

// write sends every frame that is ready, then ends (see wakeups).
func (wc *wsConn) write() { wc.wakes.drain(wc.writeReady) }

// writeReady writes the frames that are ready; false means the connection
// is over for the writer (detached, closed, or a write failed).
func (wc *wsConn) writeReady() bool {
	for {
		var (
			f   session.Frame
			ok  bool
			err error
		)
		if wc.raw {
			f, ok, err = wc.rcv.TryNextMessages()
		} else {
			f, ok, err = wc.rcv.TryNext()
		}
		if err != nil {
			return false
		}
		if !ok {
			return true
		}
		if !wc.writeFrame(f) {
			return false
		}
	}
}

// writeFrame writes one frame; false ends the writing.
func (wc *wsConn) writeFrame(f session.Frame) bool {
	c, conn := wc.c, wc.conn
	var err error
	switch {
	case f.Kind == session.KindPing:
		err = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.WriteTimeout))
	case f.Kind == session.KindClose:
		wc.writeClose(f)
		return false
	case wc.raw && f.Kind == session.KindMessages:
		for _, q := range f.Messages {
			var t []byte
			t, wc.text = rawText(q, wc.text)
			if err = c.wsWrite(conn, websocket.TextMessage, t); err != nil {
				break
			}
		}
		if cap(wc.text) > maxKeptReadBuffer {
			wc.text = nil // idle connections keep no large buffer
		}
	case wc.raw:
		// KindOpen and KindHeartbeat: nothing to send without SockJS
		// framing (pings keep the connection alive).
	default:
		err = c.wsWrite(conn, websocket.TextMessage, f.Data)
	}
	if err != nil {
		wc.writeFailed(err)
		return false
	}
	return true
}

// writeClose sends the session's close: the c[code,reason] frame and a
// normal close (SockJS), or a close frame with the session's code (raw).
// It then gives the peer a moment to answer before the connection is cut,
// so that the TCP connection ends cleanly.
func (wc *wsConn) writeClose(f session.Frame) {
	c, conn := wc.c, wc.conn
	if wc.raw {
		code, reason := 1000, ""
		var ce *session.CloseError
		if errors.As(wc.sess.Err(), &ce) {
			code, reason = ce.Code, ce.Reason
		}
		c.wsClose(conn, wireCloseCode(code), truncateReason(reason))
	} else {
		if err := c.wsWrite(conn, websocket.TextMessage, f.Data); err != nil {
			wc.writeFailed(err)
			return
		}
		c.wsClose(conn, websocket.CloseNormalClosure, "")
	}
	wc.cancel()
	wc.lingering.Store(time.AfterFunc(time.Second, wc.closeConn))
}

// writeFailed ends a connection whose write (err) failed. When the reader
// has ended or is ending (the client sent a close frame, which gorilla
// answered, so it refuses further writes with ErrCloseSent), the reader's
// error tells the application what happened; otherwise the write failure
// is the news. Closing the connection ends the reader either way.
func (wc *wsConn) writeFailed(err error) {
	if wc.ctx.Err() == nil && !errors.Is(err, websocket.ErrCloseSent) {
		wc.rcv.Interrupt(session.ErrWriteFailed)
	}
	wc.cancel()
	wc.closeConn()
}

// read delivers the client's messages until the connection ends, then
// ends the session with the reader's reason (unless it had ended already)
// and releases everything.
func (wc *wsConn) read() {
	for {
		if err := wc.readNext(); err != nil {
			wc.end(err)
			return
		}
	}
}

// readNext reads and delivers the client's next message.
func (wc *wsConn) readNext() error {
	if wc.raw {
		return wc.readRaw()
	}
	return wc.readSockJS()
}

// end runs once, on the reader's goroutine: the receiver is detached
// before the session is closed, so that closing it does not start a
// writer for a close frame nobody will read.
func (wc *wsConn) end(err error) {
	wc.endOnce.Do(func() {
		wc.cancel()
		wc.rcv.Detach()
		wc.sess.CloseWith(readerCloseError(err))
		_ = wc.conn.Close()
		if t := wc.lingering.Load(); t != nil {
			t.Stop()
		}
		if wc.silence != nil {
			wc.silence.Stop()
		}
		wc.setReaderState(readerDone)
		wc.release()
	})
}
