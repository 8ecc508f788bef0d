package transports

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/internal/frame"
	"github.com/sockline/sockline/session"
)

// NameRawWebSocket is the transport name of raw websocket sessions.
const NameRawWebSocket = "rawwebsocket"

// RawWebSocket serves GET {prefix}/websocket: a WebSocket that carries the
// application's messages as plain text messages both ways, without SockJS
// framing (no "o", "h", "a" or "c" frames), for clients that are not
// sockjs-client. Each connection is a session of its own, with a random id.
// Heartbeats are WebSocket pings; when the session closes, the client gets
// a WebSocket close frame with the session's close code and reason. Binary
// messages and text that is not UTF-8 close the connection (1003, 1007).
func (c *Config) RawWebSocket(s Sessions, w http.ResponseWriter, r *http.Request) {
	conn, br, ok := c.upgrade(w, r)
	if !ok {
		return
	}
	sess := s.OpenConnection(rand.Text(), NameRawWebSocket, r)
	c.serveWS(conn, br, sess, true, func() { // cannot happen: nobody else knows this session
		c.wsClose(conn, websocket.CloseInternalServerErr, "")
	})
}

// rawText returns the text of a message quoted by frame.AppendQuote. Its
// output is valid UTF-8, and without a backslash it has no escape, so the
// text is then the bytes between the quotes; else it is decoded into buf,
// which is returned for reuse.
func rawText(q, buf []byte) (text, newBuf []byte) {
	if bytes.IndexByte(q, '\\') < 0 {
		return q[1 : len(q)-1], buf
	}
	buf, err := frame.AppendUnquote(buf[:0], q)
	if err != nil { // cannot happen: the session quoted it
		panic("transports: session queued a malformed message: " + err.Error())
	}
	return buf, buf
}

// readRaw reads the client's next text message and delivers it as it
// is, empty ones included; an error ends the connection and says why.
func (wc *wsConn) readRaw() error {
	c, conn := wc.c, wc.conn
	wc.extendReadDeadline()
	typ, data, err := c.readMessage(conn, wc.rbuf)
	wc.rbuf = data
	if err != nil && !errors.Is(err, errMessageTooBig) {
		return err
	}
	var refused *session.CloseError
	switch {
	case err != nil:
		refused = tooBigClose()
	case typ != websocket.TextMessage:
		refused = &session.CloseError{Code: websocket.CloseUnsupportedData, Reason: "Text messages only", Cause: session.ErrClientClosed}
	case !utf8.Valid(data):
		refused = &session.CloseError{Code: websocket.CloseInvalidFramePayloadData, Reason: "Invalid UTF-8", Cause: session.ErrClientClosed}
	}
	if refused != nil {
		c.wsClose(conn, refused.Code, refused.Reason)
		return refused
	}
	if err := wc.sess.Deliver(wc.ctx, []string{string(data)}); err != nil && !errors.Is(err, session.ErrClosed) {
		return err
	}
	return nil
}

// wireCloseCode returns code if a WebSocket close frame may carry it, else
// 1000. SockJS-level codes such as 2010, and 1004-1006 and 1015 (which
// RFC 6455 reserves for reporting, never sending), would make browsers fail
// the connection instead of reporting the close.
func wireCloseCode(code int) int {
	switch {
	case code >= 3000 && code <= 4999,
		code >= 1000 && code <= 1003,
		code >= 1007 && code <= 1014:
		return code
	}
	return websocket.CloseNormalClosure
}

// truncateReason cuts a close reason to the 123 bytes a close frame can
// carry, at a character boundary.
func truncateReason(s string) string {
	const maxReason = 123
	if len(s) <= maxReason {
		return s
	}
	i := maxReason
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
