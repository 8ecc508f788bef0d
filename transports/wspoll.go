package transports

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// An idle websocket waits in the shared poller (poller_linux.go) rather
// than in a reader goroutine parked in gorilla's NextReader: once its
// descriptor is readable, a writer goroutine (writers.go) reads every
// message buffered, then the connection waits in the poller again. This
// needs gorilla's read buffer (to know that no message is left in it) and
// a plain TCP descriptor; TLS connections and other systems keep the
// reader goroutine (read).
//
// What gorilla did for an idle reader is done here instead: a client's
// pong that is buffered whole is consumed (renewing the read deadline)
// before gorilla would wait for a data frame after it, and a silence timer
// stands for the read deadline, which nobody waits on while polling.

// ownReaderWriter lends gorilla a read buffer of its size through Hijack,
// so that the connection can see what is buffered in it.
type ownReaderWriter struct {
	http.ResponseWriter
	h    http.Hijacker
	size int
	br   *bufio.Reader // set by Hijack
}

// ownReader wraps w for upgrade, or returns nil where gorilla would not
// read through the buffer lent (it wants more than 256 bytes) or w cannot
// be hijacked directly (gorilla then answers as before).
func ownReader(w http.ResponseWriter, size int) *ownReaderWriter {
	h, ok := w.(http.Hijacker)
	if !ok || size <= 256 {
		return nil
	}
	return &ownReaderWriter{ResponseWriter: w, h: h, size: size}
}

// Hijack hijacks the connection and hands gorilla a fresh read buffer of
// the configured size (net/http's is 4 KiB) with net/http's writer.
func (o *ownReaderWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := o.h.Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return conn, brw, err // gorilla refuses early data itself
	}
	o.br = bufio.NewReaderSize(conn, o.size)
	return conn, bufio.NewReadWriter(o.br, brw.Writer), nil
}

// wsReader is a wsConn as a drainer whose turn reads (see readBurst).
type wsReader wsConn

func (r *wsReader) write() { (*wsConn)(r).readBurst() }

// startReading starts the reader: in the poller when it can, else a
// goroutine.
func (wc *wsConn) startReading() {
	if wc.br != nil {
		wc.watch = newPollWatch(wc.conn.UnderlyingConn(), wc.readable)
	}
	if wc.watch == nil {
		go wc.read()
		return
	}
	wc.park()
}

// readable runs on the poller's goroutine: a writer goroutine reads.
func (wc *wsConn) readable() { startWriter((*wsReader)(wc)) }

// readBurst reads and delivers every message the client sends until it
// has been quiet for a while (see waitActive), then waits in the poller
// again. A burst of pongs alone parks as soon as nothing is left to read.
func (wc *wsConn) readBurst() {
	wc.borrowReadBuffer()
	_, _ = wc.br.Peek(1) // the poller said readable: this does not wait
	data := false
	for {
		if !wc.skipPong() {
			if err := wc.readNext(); err != nil {
				wc.end(err)
				return
			}
			data = true
		}
		if wc.br.Buffered() > 0 {
			continue
		}
		if data && wc.waitActive() {
			continue
		}
		if data || !wc.watch.pending() {
			wc.park()
			return
		}
	}
}

// skipPong consumes a client's pong frame buffered whole, as gorilla's
// pong handler would, and reports whether it did.
func (wc *wsConn) skipPong() bool {
	const pong, masked = 0x80 | 0x0a, 0x80 // FIN and opcode 10; a client's mask bit
	if wc.br.Buffered() < 2 {
		return false
	}
	p, _ := wc.br.Peek(2)
	if p[0] != pong || p[1]&masked == 0 || p[1]&0x7f > 125 {
		return false
	}
	n := 2 + 4 + int(p[1]&0x7f)
	if wc.br.Buffered() < n {
		return false
	}
	_, _ = wc.br.Discard(n)
	wc.extendReadDeadline()
	return true
}

// park makes the connection wait in the poller, holding no read buffer,
// with the silence timer set to its read deadline, renewed as the reader
// renews it before each message: a slow application is not a silent
// client.
func (wc *wsConn) park() {
	wc.setReaderState(readerParked)
	wc.rbuf, wc.msgs = nil, nil
	wc.lendReadBuffer()
	wc.extendReadDeadline()
	if d := wc.deadline.Load(); d != 0 {
		wait := time.Until(time.Unix(0, d))
		if wc.silence == nil {
			wc.silence = time.AfterFunc(wait, wc.silent)
		} else {
			wc.silence.Reset(wait)
		}
	}
	if err := wc.watch.arm(); err != nil {
		wc.end(err)
	}
}

// silent ends a connection that waited in the poller past its read
// deadline, as gorilla's read would have with a timeout.
func (wc *wsConn) silent() {
	if d := wc.deadline.Load(); d == 0 || time.Now().UnixNano() < d {
		return // renewed since: the reader resets the timer as it parks
	}
	if wc.watch.forget() {
		wc.end(os.ErrDeadlineExceeded)
	}
}

// closeConn closes the connection; one waiting in the poller gets no
// event for it, so its reader's end runs here.
func (wc *wsConn) closeConn() {
	_ = wc.conn.Close()
	if wc.watch != nil && wc.watch.forget() {
		go wc.end(net.ErrClosed)
	}
}

// readBuffers lends the read buffers of websockets waiting in the poller
// to those reading: *sync.Pool of *bufio.Reader by buffer size.
var readBuffers sync.Map

func readBufferPool(size int) *sync.Pool {
	if p, ok := readBuffers.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := readBuffers.LoadOrStore(size, &sync.Pool{})
	return p.(*sync.Pool)
}

// lendReadBuffer hands the connection's empty read buffer to the pool.
// Gorilla keeps its *bufio.Reader, whose contents are moved out and back:
// nobody uses it while the connection waits in the poller.
func (wc *wsConn) lendReadBuffer() {
	if wc.br.Size() == 0 || wc.br.Buffered() > 0 {
		return
	}
	lent := wc.spare
	if lent == nil {
		lent = new(bufio.Reader)
	}
	*lent = *wc.br
	lent.Reset(nil) // holds no connection
	*wc.br = bufio.Reader{}
	wc.spare = nil
	readBufferPool(lent.Size()).Put(lent)
}

// borrowReadBuffer gives the connection a read buffer again, keeping the
// emptied *bufio.Reader for the next lendReadBuffer.
func (wc *wsConn) borrowReadBuffer() {
	if wc.br.Size() == 0 {
		wc.borrowReadBufferFrom(wc.conn.UnderlyingConn())
	}
}

// borrowReadBufferFrom is borrowReadBuffer reading from conn.
func (wc *wsConn) borrowReadBufferFrom(conn net.Conn) {
	size := wc.c.readBufferSize()
	b, _ := readBufferPool(size).Get().(*bufio.Reader)
	if b == nil {
		*wc.br = *bufio.NewReaderSize(conn, size)
		return
	}
	*wc.br = *b
	wc.br.Reset(conn)
	*b = bufio.Reader{}
	wc.spare = b
}
