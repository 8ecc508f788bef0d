package stomp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/cors"
)

// Subprotocols are the websocket subprotocols of STOMP, best first.
var Subprotocols = []string{"v12.stomp", "v11.stomp", "v10.stomp"}

// WebSocketOptions configures Server.WebSocketHandler. The zero value is
// ready to use: same-origin pages only, and the sockjs package's defaults
// for sizes and timeouts.
type WebSocketOptions struct {
	// Origins is the origin policy of the handshake. A websocket is not
	// subject to CORS, so without this check any page a logged-in user
	// visits could open a connection carrying their cookies (cross-site
	// WebSocket hijacking). The zero Config allows same-origin pages and
	// clients that send no Origin (non-browser programs).
	Origins cors.Config
	// MaxMessageBytes bounds one websocket message from the client; larger
	// ones close the connection (1009). Zero means 1 MiB.
	MaxMessageBytes int64
	// MaxQueuedBytes bounds the frames waiting to go to the client; a
	// client that falls this far behind is closed with 1008. Zero means
	// 8 MiB.
	MaxQueuedBytes int
	// WriteTimeout bounds every write. Zero means 10 s.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings; a client that has not
	// answered (or sent anything) within PingInterval plus WriteTimeout is
	// closed. Zero means 25 s.
	PingInterval time.Duration
}

// WebSocketHandler returns an http.Handler that upgrades to a websocket and
// runs STOMP on it, for clients that speak STOMP over plain websocket
// (@stomp/stompjs with brokerURL, native apps). It negotiates
// Sec-WebSocket-Protocol v12.stomp, v11.stomp or v10.stomp (a client that
// offers none is still served, as most brokers do), and checks the Origin
// with package cors. It fails on an invalid origin configuration.
func (s *Server) WebSocketHandler(o WebSocketOptions) (http.Handler, error) {
	policy, err := cors.New(o.Origins)
	if err != nil {
		return nil, fmt.Errorf("stomp: websocket origins: %w", err)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 1 << 20
	}
	if o.MaxQueuedBytes <= 0 {
		o.MaxQueuedBytes = 8 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	up := &websocket.Upgrader{
		Subprotocols:     Subprotocols,
		CheckOrigin:      policy.CheckWebSocketOrigin,
		HandshakeTimeout: o.WriteTimeout,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil) // writes 403 or 400 itself
		if err != nil {
			return
		}
		c := newWSConn(ws, o)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			select {
			case <-c.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		s.serve(ctx, c, &ConnectRequest{Request: r, Header: r.Header, RemoteAddr: r.RemoteAddr, Transport: "stomp-websocket"})
		_ = c.Close(CloseNormal, "")
		<-c.writerDone
	}), nil
}

// errWSClosed is what Send and Recv return once the connection closed.
var errWSClosed = errors.New("stomp: websocket closed")

// wsConn is the transport on a plain websocket: one reader goroutine, one
// writer goroutine draining a bounded queue, close once.
type wsConn struct {
	ws   *websocket.Conn
	opts WebSocketOptions

	in         chan string   // from the reader
	done       chan struct{} // closed by Close or a failure
	writerDone chan struct{}
	wake       chan struct{} // cap 1: the queue has something

	mu         sync.Mutex
	queue      []string
	queued     int
	closeCode  int
	peerClosed bool // reading ended the connection: no close frame to write
	reason     string
	closeOnce  sync.Once
}

func newWSConn(ws *websocket.Conn, o WebSocketOptions) *wsConn {
	c := &wsConn{
		ws: ws, opts: o,
		in:         make(chan string),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		wake:       make(chan struct{}, 1),
	}
	ws.SetReadLimit(o.MaxMessageBytes)
	deadline := func() { _ = ws.SetReadDeadline(time.Now().Add(o.PingInterval + o.WriteTimeout)) }
	deadline()
	ws.SetPongHandler(func(string) error { deadline(); return nil })
	go c.read(deadline)
	go c.write()
	return c
}

func (c *wsConn) read(renew func()) {
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.closeRead(err)
			return
		}
		renew()
		select {
		case c.in <- string(b):
		case <-c.done:
			return
		}
	}
}

// closeRead records why reading ended: the peer's close code (gorilla has
// answered its close frame), 1009 past the read limit (gorilla has sent
// that close frame), else 1006, a connection gone without a close.
func (c *wsConn) closeRead(err error) {
	code := 1006
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		code = ce.Code
		if code == websocket.CloseNoStatusReceived {
			code = 1000
		}
	case errors.Is(err, websocket.ErrReadLimit):
		code = 1009
	}
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closeCode, c.peerClosed = code, true
		c.mu.Unlock()
		close(c.done)
	})
}

// Recv implements transport.
func (c *wsConn) Recv(ctx context.Context) (string, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.done:
		return "", errWSClosed
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Send implements transport: it queues msg and never blocks.
func (c *wsConn) Send(msg string) error {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return errWSClosed
	default:
	}
	if c.queued+len(msg) > c.opts.MaxQueuedBytes {
		c.mu.Unlock()
		c.Close(1008, "Send queue overflow")
		return errWSClosed
	}
	c.queue = append(c.queue, msg)
	c.queued += len(msg)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close implements transport: queued frames are written, then a close
// frame with code and reason. Only the first call counts.
func (c *wsConn) Close(code int, reason string) error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closeCode, c.reason = code, reason
		c.mu.Unlock()
		close(c.done)
	})
	return nil
}

// write is the only writer of the websocket.
func (c *wsConn) write() {
	defer close(c.writerDone)
	defer c.ws.Close()
	ping := time.NewTicker(c.opts.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.wake:
			if !c.flush() {
				c.Close(1006, "")
				return
			}
		case <-ping.C:
			if c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteTimeout)) != nil {
				c.Close(1006, "")
				return
			}
		case <-c.done:
			if c.flush() {
				c.mu.Lock()
				code, reason, peer := c.closeCode, c.reason, c.peerClosed
				c.mu.Unlock()
				if code != 1006 && !peer {
					_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(c.opts.WriteTimeout))
				}
			}
			return
		}
	}
}

// flush writes everything queued; false if a write failed.
func (c *wsConn) flush() bool {
	c.mu.Lock()
	q := c.queue
	c.queue, c.queued = nil, 0
	overflow := c.closeCode == 1008
	c.mu.Unlock()
	if overflow {
		return true // the client is too far behind: close without the backlog
	}
	for _, m := range q {
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
		typ := websocket.TextMessage
		if !utf8.ValidString(m) {
			typ = websocket.BinaryMessage
		}
		if c.ws.WriteMessage(typ, []byte(m)) != nil {
			return false
		}
	}
	return true
}
