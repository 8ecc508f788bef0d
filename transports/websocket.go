package transports

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/internal/frame"
	"github.com/sockline/sockline/session"
)

// writeBufferPool shares write buffers between idle connections, so 100k
// mostly idle websockets do not each hold one.
var writeBufferPool = &sync.Pool{}

// checkUpgrade answers the protocol's 400s for requests that are not a
// WebSocket handshake, before gorilla/websocket sees them.
func checkUpgrade(w http.ResponseWriter, r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		plainError(w, `Can "Upgrade" only to "WebSocket".`, http.StatusBadRequest)
		return false
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		plainError(w, `"Connection" must be "Upgrade".`, http.StatusBadRequest)
		return false
	}
	return true
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			// HTTP's optional white space is SP and HTAB only; TrimSpace
			// would also take a form feed or NBSP for it.
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

func (c *Config) upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, *bufio.Reader, bool) {
	if !checkUpgrade(w, r) {
		return nil, nil, false
	}
	// Versions 7 and 8 (hybi drafts, old Firefox and Chrome) frame messages
	// as RFC 6455 does; the protocol suite expects them accepted.
	if v := r.Header.Get("Sec-WebSocket-Version"); v == "7" || v == "8" {
		r.Header.Set("Sec-WebSocket-Version", "13")
	}
	check := c.CheckOrigin
	if check == nil {
		check = func(*http.Request) bool { return true }
	}
	own := ownReader(w, c.readBufferSize())
	readBufferSize := c.readBufferSize()
	if own != nil {
		w, readBufferSize = own, 0 // gorilla reads through own's reader
	}
	up := websocket.Upgrader{
		HandshakeTimeout:  c.WriteTimeout,
		CheckOrigin:       check,
		WriteBufferPool:   c.writeBuffers(),
		ReadBufferSize:    readBufferSize,
		WriteBufferSize:   c.WriteBufferSize,
		EnableCompression: c.Compression,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			plainError(w, reason.Error(), status)
		},
	}
	// gorilla writes the 101 from the header passed here, not from w's:
	// carry over the cookies the handler set (JSESSIONID, CookieFunc).
	var resp http.Header
	if cookies := w.Header().Values("Set-Cookie"); len(cookies) > 0 {
		resp = http.Header{"Set-Cookie": cookies}
	}
	if p := SelectSubprotocol(r, c.Subprotocols); p != "" {
		if resp == nil {
			resp = http.Header{}
		}
		resp.Set("Sec-WebSocket-Protocol", p)
	}
	conn, err := up.Upgrade(w, r, resp)
	if err != nil {
		return nil, nil, false // Upgrade has answered the client
	}
	var br *bufio.Reader
	if own != nil {
		br = own.br
	}
	// MaxMessageBytes is applied by readMessage.
	return conn, br, true
}

// readDeadline is how long a websocket may stay silent: one ping interval
// (a ping goes out every interval, heartbeats on or off) plus the time the
// peer has to answer it.
func (c *Config) readDeadline() time.Time {
	iv := c.PingInterval
	if iv <= 0 {
		iv = c.HeartbeatDelay
	}
	if iv <= 0 {
		return time.Time{}
	}
	return time.Now().Add(iv + c.PongTimeout)
}

// WebSocket serves GET {prefix}/{server}/{session}/websocket: SockJS frames
// as text messages both ways. It returns once the handshake is done; the
// connection goes on without the request's goroutine (see wsConn).
func (c *Config) WebSocket(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	conn, br, ok := c.upgrade(w, r)
	if !ok {
		return
	}
	sess := s.OpenConnection(id, NameWebSocket, r)
	c.serveWS(conn, br, sess, false, func() {
		c.anotherConnection(NameWebSocket)
		c.wsWrite(conn, websocket.TextMessage, frame.AppendClose(nil, frame.CodeAnotherConnection, frame.ReasonAnotherConnection))
		c.wsClose(conn, websocket.CloseNormalClosure, "")
	})
}

// readSockJS reads the client's next message and delivers it; an error
// ends the connection and says why. Broken JSON ends it, as the protocol
// requires; empty messages are ignored. Messages that arrive after the
// session closed are dropped: the writer is sending the close frame and
// will end the connection.
func (wc *wsConn) readSockJS() error {
	c, ctx := wc.c, wc.ctx
	// Renewed here, after the previous message was delivered, so that a
	// slow application is not taken for a silent client.
	wc.extendReadDeadline()
	_, data, err := c.readMessage(wc.conn, wc.rbuf)
	wc.rbuf = data
	if errors.Is(err, errMessageTooBig) {
		return c.closeTooBig(ctx, wc.sess)
	}
	if err != nil || len(data) == 0 {
		return err
	}
	wc.msgs, err = frame.AppendDecodeMessages(wc.msgs[:0], data)
	if err != nil {
		return err
	}
	err = wc.sess.Deliver(ctx, wc.msgs)
	clear(wc.msgs) // the inbox has them: keep no string alive here
	if cap(wc.msgs) > 64 {
		wc.msgs = nil // idle connections keep no large batch array
	}
	if err != nil && !errors.Is(err, session.ErrClosed) {
		return err
	}
	return nil
}

// extendReadDeadline gives the peer one more heartbeat delay plus the pong
// timeout to show it is alive. Once the connection is closing (ctx done) it
// leaves alone the deadline the closing side set.
func (wc *wsConn) extendReadDeadline() {
	if wc.ctx.Err() == nil {
		d := wc.c.readDeadline()
		_ = wc.conn.SetReadDeadline(d)
		if !d.IsZero() {
			wc.deadline.Store(d.UnixNano())
		}
	}
}

// readerCloseError tells the application why the reader ended: the close
// the reader decided itself, or what the connection's error means.
func readerCloseError(err error) *session.CloseError {
	var ce *session.CloseError
	if errors.As(err, &ce) {
		return ce
	}
	return wsCloseError(err)
}

// wsCloseError tells the application why the websocket ended.
func wsCloseError(err error) *session.CloseError {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return &session.CloseError{Code: ce.Code, Reason: ce.Text, Cause: session.ErrClientClosed}
	case errors.Is(err, frame.ErrBrokenJSON):
		return &session.CloseError{Code: 1007, Reason: "Broken JSON encoding", Cause: session.ErrClientClosed}
	case errors.As(err, &ne) && ne.Timeout():
		return &session.CloseError{Code: 1006, Reason: "Client stopped answering pings", Cause: session.ErrTimedOut}
	default:
		return &session.CloseError{Code: 1006, Reason: "Connection lost", Cause: session.ErrClientClosed}
	}
}

func (c *Config) wsWrite(conn *websocket.Conn, typ int, data []byte) error {
	_ = conn.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
	c.compress(conn, len(data))
	return conn.WriteMessage(typ, data)
}

func (c *Config) wsClose(conn *websocket.Conn, code int, reason string) {
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(c.WriteTimeout))
}
