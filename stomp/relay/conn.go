package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/stomp"
)

// Errors of the relay. Match them with errors.Is; the messages wrapped
// around them say which broker and what happened.
var (
	// ErrBrokerUnavailable: the broker cannot be reached, refused the
	// connection, or the connection to it was lost. The relay keeps
	// reconnecting its system connection; clients should retry later.
	ErrBrokerUnavailable = errors.New("relay: STOMP broker unavailable")
	// ErrHeartbeatTimeout: the broker sent nothing, not even a heart-beat,
	// for three of its negotiated intervals. It comes with
	// ErrBrokerUnavailable.
	ErrHeartbeatTimeout = errors.New("relay: broker silent past its heart-beat interval")
	// ErrClosed: the session or the relay was closed.
	ErrClosed = errors.New("relay: closed")
	// ErrNotForwarded: Forward got a frame the relay does not carry
	// (CONNECT, DISCONNECT and server frames are the relay's own business).
	ErrNotForwarded = errors.New("relay: frame not forwarded")
)

// BrokerError is the ERROR frame a broker sent, as an error: on CONNECT (bad
// login, unknown virtual host) or later (which ends the connection).
type BrokerError struct {
	// Frame is the ERROR frame.
	Frame *stomp.Frame
}

// Error says what the broker said: its message header, and a short body.
func (e *BrokerError) Error() string {
	msg := e.Frame.Header.Get(stomp.HdrMessage)
	if body := strings.TrimSpace(string(e.Frame.Body)); body != "" && len(body) < 200 {
		msg += ": " + body
	}
	return "relay: broker sent ERROR: " + msg
}

// heartbeatGrace is how many of the broker's intervals of silence end a
// connection.
const heartbeatGrace = 3

// closeFlushTimeout bounds the last write of a connection being closed.
const closeFlushTimeout = time.Second

// brokerConn is one CONNECTed TCP connection to the broker: one reader
// goroutine that delivers frames, one writer goroutine that owns writes.
type brokerConn struct {
	nc           net.Conn
	addr         string
	dec          stomp.Decoder
	out          chan []byte
	sendEvery    time.Duration // 0: no heart-beats to send
	readWithin   time.Duration // 0: no silence detection
	writeTimeout time.Duration
	deliver      func(*stomp.Frame)

	queueMu        sync.Mutex
	queuedBytes    int           // of frames queued or being written
	maxQueuedBytes int           // Options.MaxQueuedBytes
	room           chan struct{} // closed (and replaced) when bytes are released
	closed         func(error)   // nil for none; not called after Close

	stopOnce   sync.Once
	stop       chan struct{} // closed by Close: flush, DISCONNECT, end
	failOnce   sync.Once
	failed     chan struct{} // closed by fail
	failErr    error         // set before failed is closed
	userClosed atomic.Bool
	delivering atomic.Bool // the reader is in deliver
	writerDone chan struct{}
	done       chan struct{} // both goroutines ended, socket closed
}

// dial connects to the broker, exchanges CONNECT/CONNECTED and starts the
// connection's goroutines.
func dial(ctx context.Context, o *Options, login, passcode string, deliver func(*stomp.Frame), closed func(error)) (*brokerConn, error) {
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if o.TLSConfig != nil {
		d := tls.Dialer{Config: o.TLSConfig}
		nc, err = d.DialContext(ctx, "tcp", o.Addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", o.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot connect to the broker at %s: %w", ErrBrokerUnavailable, o.Addr, err)
	}
	c := &brokerConn{
		nc: nc, addr: o.Addr, out: make(chan []byte, o.MaxQueuedFrames),
		maxQueuedBytes: o.MaxQueuedBytes, room: make(chan struct{}),
		writeTimeout: o.WriteTimeout, deliver: deliver, closed: closed,
		stop: make(chan struct{}), failed: make(chan struct{}),
		writerDone: make(chan struct{}), done: make(chan struct{}),
	}
	c.dec.MaxFrameBytes = o.MaxFrameBytes
	// A MESSAGE carries the SEND's headers (up to a server's own limit,
	// stomp.DefaultMaxHeaders) plus the broker's.
	c.dec.MaxHeaders = 2 * stomp.DefaultMaxHeaders
	stopWatch := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	connected, err := c.handshake(o, login, passcode)
	if !stopWatch() || err != nil {
		_ = nc.Close()
		if err == nil || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: no CONNECTED from the broker at %s: %w", ErrBrokerUnavailable, o.Addr, context.Cause(ctx))
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	c.negotiate(o, connected.Header.Get(stomp.HdrHeartBeat))
	go c.writeLoop()
	go c.readLoop()
	return c, nil
}

// handshake writes CONNECT and reads up to CONNECTED (or ERROR).
func (c *brokerConn) handshake(o *Options, login, passcode string) (*stomp.Frame, error) {
	f := &stomp.Frame{Command: stomp.CmdConnect, Header: stomp.Header{
		{Key: stomp.HdrAcceptVersion, Value: "1.2"},
		{Key: stomp.HdrHost, Value: o.VirtualHost},
		{Key: stomp.HdrHeartBeat, Value: ms(o.HeartbeatSend) + "," + ms(o.HeartbeatReceive)},
	}}
	if login != "" {
		f.Header.Add(stomp.HdrLogin, login)
		f.Header.Add(stomp.HdrPasscode, passcode)
	}
	b, err := stomp.Encode(f)
	if err != nil {
		return nil, fmt.Errorf("relay: cannot send CONNECT (a login or passcode with a line break?): %w", err)
	}
	if _, err := c.nc.Write(b); err != nil {
		return nil, fmt.Errorf("%w: writing CONNECT to %s: %w", ErrBrokerUnavailable, c.addr, err)
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.nc.Read(buf)
		c.dec.Feed(buf[:n])
		f, derr := c.dec.Next()
		if derr != nil {
			return nil, fmt.Errorf("%w: bad answer to CONNECT from %s: %w", ErrBrokerUnavailable, c.addr, derr)
		}
		if f != nil {
			switch f.Command {
			case stomp.CmdConnected:
				return f, nil
			case stomp.CmdError:
				return nil, &BrokerError{Frame: f}
			default:
				return nil, fmt.Errorf("%w: %s answered CONNECT with %s", ErrBrokerUnavailable, c.addr, f.Command)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: no CONNECTED from the broker at %s: %w", ErrBrokerUnavailable, c.addr, err)
		}
	}
}

// negotiate sets the heart-beat intervals from the broker's "sx,sy".
func (c *brokerConn) negotiate(o *Options, hb string) {
	sx, sy := parseHeartbeat(hb)
	if o.HeartbeatSend > 0 && sy > 0 {
		c.sendEvery = max(o.HeartbeatSend, sy)
	}
	if o.HeartbeatReceive > 0 && sx > 0 {
		c.readWithin = heartbeatGrace * max(o.HeartbeatReceive, sx)
	}
}

func parseHeartbeat(v string) (sx, sy time.Duration) {
	a, b, ok := strings.Cut(v, ",")
	if !ok {
		return 0, 0
	}
	x, err1 := strconv.Atoi(strings.TrimSpace(a))
	y, err2 := strconv.Atoi(strings.TrimSpace(b))
	const maxMillis = 24 * 3600 * 1000 // past a day means no heart-beats, not an overflow
	if err1 != nil || err2 != nil || x < 0 || y < 0 || x > maxMillis || y > maxMillis {
		return 0, 0
	}
	return time.Duration(x) * time.Millisecond, time.Duration(y) * time.Millisecond
}

func ms(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// send queues one encoded frame, waiting for room (in bytes, then in
// frames) as long as ctx allows.
func (c *brokerConn) send(ctx context.Context, b []byte) error {
	select {
	case <-c.failed:
		return c.failErr
	case <-c.stop:
		return ErrClosed
	default:
	}
	for {
		c.queueMu.Lock()
		// A frame larger than the bound still goes alone into an empty queue.
		if c.queuedBytes == 0 || c.queuedBytes+len(b) <= c.maxQueuedBytes {
			c.queuedBytes += len(b)
			c.queueMu.Unlock()
			break
		}
		room := c.room
		c.queueMu.Unlock()
		select {
		case <-room:
		case <-c.failed:
			return c.failErr
		case <-c.stop:
			return ErrClosed
		case <-ctx.Done():
			return c.fullError(ctx)
		}
	}
	select {
	case c.out <- b:
		return nil
	case <-c.failed:
		c.release(len(b))
		return c.failErr
	case <-c.stop:
		c.release(len(b))
		return ErrClosed
	case <-ctx.Done():
		c.release(len(b))
		return c.fullError(ctx)
	}
}

func (c *brokerConn) fullError(ctx context.Context) error {
	return fmt.Errorf("relay: send queue to %s full (%d frames or %d bytes; the broker reads too slowly): %w", c.addr, cap(c.out), c.maxQueuedBytes, ctx.Err())
}

// release gives back n queued bytes and wakes every sender waiting for room.
func (c *brokerConn) release(n int) {
	c.queueMu.Lock()
	c.queuedBytes -= n
	close(c.room)
	c.room = make(chan struct{})
	c.queueMu.Unlock()
}

// fail ends the connection with err (the first reason wins).
func (c *brokerConn) fail(err error) {
	c.failOnce.Do(func() {
		c.failErr = err
		close(c.failed)
		_ = c.nc.Close()
	})
}

// Close flushes what is queued, sends DISCONNECT and closes the socket
// (within about closeFlushTimeout even if the broker does not read), and
// waits for the connection's goroutines, except for a reader still in
// deliver (Close may be called from deliver). closed is not called after it.
func (c *brokerConn) Close() error {
	first := !c.userClosed.Swap(true)
	c.stopOnce.Do(func() { close(c.stop) })
	// A write under way may wait for WriteTimeout; the last flush gets less.
	cut := time.AfterFunc(closeFlushTimeout, func() { c.fail(ErrClosed) })
	if c.delivering.Load() {
		// Maybe called from deliver, on the reader: it ends once deliver
		// returns; the socket is closed when the writer is done.
		<-c.writerDone
	} else {
		<-c.done
	}
	cut.Stop()
	if !first {
		return ErrClosed
	}
	return nil
}

// err returns why the connection ended, once done.
func (c *brokerConn) err() error {
	select {
	case <-c.failed:
		return c.failErr
	default:
		return nil
	}
}

func (c *brokerConn) readLoop() {
	err := c.deliverBuffered()
	if err == nil {
		buf := make([]byte, 8192)
		for err == nil {
			if c.readWithin > 0 {
				_ = c.nc.SetReadDeadline(time.Now().Add(c.readWithin))
			}
			n, rerr := c.nc.Read(buf)
			if n > 0 {
				c.dec.Feed(buf[:n])
				err = c.deliverBuffered()
			}
			if err == nil && rerr != nil {
				err = c.readError(rerr)
			}
		}
	}
	c.fail(err)
	<-c.writerDone
	close(c.done)
	if c.closed != nil && !c.userClosed.Load() {
		c.closed(c.failErr)
	}
}

// deliverBuffered delivers every complete frame the decoder holds.
func (c *brokerConn) deliverBuffered() error {
	for {
		f, err := c.dec.Next()
		if err != nil {
			return fmt.Errorf("%w: bad frame from %s: %w", ErrBrokerUnavailable, c.addr, err)
		}
		if f == nil {
			return nil
		}
		if c.userClosed.Load() {
			continue
		}
		c.delivering.Store(true)
		c.deliver(f)
		c.delivering.Store(false)
		if f.Command == stomp.CmdError {
			return &BrokerError{Frame: f}
		}
	}
}

// readError says why a read failed in words a user understands.
func (c *brokerConn) readError(err error) error {
	select {
	case <-c.failed:
		return c.failErr // our own close (or a write failure) came first
	default:
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %w (nothing from %s for %v)", ErrBrokerUnavailable, ErrHeartbeatTimeout, c.addr, c.readWithin)
	}
	return fmt.Errorf("%w: connection to the broker at %s lost: %w", ErrBrokerUnavailable, c.addr, err)
}

// maxBatch is how many queued bytes the writer gathers into one write.
const maxBatch = 64 << 10

func (c *brokerConn) writeLoop() {
	defer close(c.writerDone)
	var beat <-chan time.Time
	var timer *time.Timer
	if c.sendEvery > 0 {
		timer = time.NewTimer(c.sendEvery)
		defer timer.Stop()
		beat = timer.C
	}
	var frames [][]byte // one writev of queued frames, not copied
	for {
		select {
		case b := <-c.out:
			var n int
			frames, n = c.gather(append(frames[:0], b), len(b), maxBatch)
			err := c.write(frames, c.writeTimeout)
			clear(frames)
			c.release(n)
			if err != nil {
				c.fail(err)
				return
			}
		case <-beat:
			if err := c.write([][]byte{heartbeat}, c.writeTimeout); err != nil {
				c.fail(err)
				return
			}
		case <-c.stop:
			frames, _ = c.gather(frames[:0], 0, int(^uint(0)>>1))
			_ = c.write(append(frames, disconnect), closeFlushTimeout)
			c.fail(ErrClosed)
			return
		case <-c.failed:
			return
		}
		if timer != nil {
			timer.Reset(c.sendEvery)
		}
	}
}

// What the writer sends of its own.
var (
	heartbeat  = []byte{'\n'}
	disconnect = []byte("DISCONNECT\n\n\x00")
)

// gather appends queued frames to frames while their n bytes are under
// limit, and returns both.
func (c *brokerConn) gather(frames [][]byte, n, limit int) ([][]byte, int) {
	for n < limit {
		select {
		case b := <-c.out:
			frames = append(frames, b)
			n += len(b)
		default:
			return frames, n
		}
	}
	return frames, n
}

func (c *brokerConn) write(frames [][]byte, timeout time.Duration) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	bufs := net.Buffers(frames)
	if _, err := bufs.WriteTo(c.nc); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%w: the broker at %s did not read for %v", ErrBrokerUnavailable, c.addr, timeout)
		}
		return fmt.Errorf("%w: connection to the broker at %s lost: %w", ErrBrokerUnavailable, c.addr, err)
	}
	return nil
}
