package transports

import (
	"context"
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
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func (c *Config) upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, bool) {
	if !checkUpgrade(w, r) {
		return nil, false
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
	up := websocket.Upgrader{
		HandshakeTimeout: c.WriteTimeout,
		CheckOrigin:      check,
		WriteBufferPool:  writeBufferPool,
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
	conn, err := up.Upgrade(w, r, resp)
	if err != nil {
		return nil, false // Upgrade has answered the client
	}
	if c.MaxMessageBytes > 0 {
		conn.SetReadLimit(c.MaxMessageBytes)
	}
	return conn, true
}

// readDeadline is how long a websocket may stay silent: one heartbeat
// (which carries a ping) plus the time the peer has to answer it.
func (c *Config) readDeadline() time.Time {
	if c.HeartbeatDelay <= 0 {
		return time.Time{}
	}
	return time.Now().Add(c.HeartbeatDelay + c.PongTimeout)
}

// WebSocket serves GET {prefix}/{server}/{session}/websocket: SockJS frames
// as text messages both ways.
func (c *Config) WebSocket(s Sessions, w http.ResponseWriter, r *http.Request, id string) {
	conn, ok := c.upgrade(w, r)
	if !ok {
		return
	}
	defer conn.Close()
	sess := s.OpenConnection(id, NameWebSocket, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rcv, err := sess.Attach(ctx)
	if err != nil {
		c.wsWrite(conn, websocket.TextMessage, frame.AppendClose(nil, frame.CodeAnotherConnection, frame.ReasonAnotherConnection))
		c.wsClose(conn, websocket.CloseNormalClosure, "")
		return
	}
	defer rcv.Detach()

	readErr := make(chan error, 1)
	go func() {
		readErr <- c.wsRead(ctx, conn, sess)
		cancel()
	}()
	for {
		f, err := rcv.Next(ctx)
		if err != nil {
			sess.CloseWith(wsCloseError(<-readErr))
			return
		}
		if err := c.wsWrite(conn, websocket.TextMessage, f.Data); err != nil {
			rcv.Interrupt(session.ErrWriteFailed)
			return
		}
		switch f.Kind {
		case session.KindHeartbeat:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.WriteTimeout)); err != nil {
				rcv.Interrupt(session.ErrWriteFailed)
				return
			}
		case session.KindClose:
			c.wsClose(conn, websocket.CloseNormalClosure, "")
			cancel()
			c.awaitReader(conn, readErr)
			return
		}
	}
}

// wsRead delivers the client's messages until the connection ends and
// returns why it ended. Broken JSON ends it, as the protocol requires;
// empty messages are ignored.
func (c *Config) wsRead(ctx context.Context, conn *websocket.Conn, sess *session.Session) error {
	c.renewReadDeadline(conn)
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		c.renewReadDeadline(conn)
		if len(data) == 0 {
			continue
		}
		msgs, err := frame.DecodeMessages(data)
		if err != nil {
			return err
		}
		if err := sess.Deliver(ctx, msgs); err != nil {
			return err
		}
	}
}

func (c *Config) renewReadDeadline(conn *websocket.Conn) {
	_ = conn.SetReadDeadline(c.readDeadline())
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(c.readDeadline())
	})
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
	return conn.WriteMessage(typ, data)
}

func (c *Config) wsClose(conn *websocket.Conn, code int, reason string) {
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(c.WriteTimeout))
}

// awaitReader gives the peer a moment to answer our close frame, so that the
// TCP connection ends cleanly, then stops the reader by the read deadline.
func (c *Config) awaitReader(conn *websocket.Conn, readErr <-chan error) {
	_ = conn.SetReadDeadline(time.Now().Add(min(c.WriteTimeout, time.Second)))
	<-readErr
}
