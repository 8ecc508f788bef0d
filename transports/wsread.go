package transports

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/session"
)

// errMessageTooBig is readMessage's answer to a message past
// Config.MaxMessageBytes.
var errMessageTooBig = errors.New("transports: websocket message too big")

// tooBigClose is how a session ends when its client sends a websocket
// message past the limit: 1009, which the client is told.
func tooBigClose() *session.CloseError {
	return &session.CloseError{Code: websocket.CloseMessageTooBig, Reason: "Message too big", Cause: session.ErrClientClosed}
}

// readMessage reads the next message, at most Config.MaxMessageBytes of it,
// into buf (reused: the caller copies what it keeps, as DecodeMessages
// and string conversions do). The limit is applied here rather than with
// gorilla's SetReadLimit, which answers by itself with a bare close frame
// and an error that would end the session as a lost connection (1006),
// telling neither the application nor a SockJS client (which ignores
// WebSocket close codes) why.
func (c *Config) readMessage(conn *websocket.Conn, buf []byte) (int, []byte, error) {
	typ, r, err := conn.NextReader()
	if err != nil {
		return 0, buf, err
	}
	if cap(buf) > maxKeptReadBuffer {
		buf = nil // one large message must not pin memory for the connection's life
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := cap(buf)
		if c.MaxMessageBytes > 0 {
			end = int(min(int64(end), c.MaxMessageBytes+1)) // never read past the limit's first byte
		}
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if c.MaxMessageBytes > 0 && int64(len(buf)) > c.MaxMessageBytes {
			return typ, buf, errMessageTooBig
		}
		if err == io.EOF {
			return typ, buf, nil
		}
		if err != nil {
			return typ, buf, err
		}
	}
}

// maxKeptReadBuffer bounds the read buffer a websocket keeps between
// messages: small, since an idle connection holds it for as long as it
// stays idle; a larger message costs an allocation instead.
const maxKeptReadBuffer = 4 << 10

// closeTooBig ends a SockJS websocket whose client sent too big a message:
// the session closes with 1009, so the writer sends c[1009,"Message too
// big"] and a close frame; the reader, which must not read the rest of the
// message, waits for the writer to finish (it cancels ctx), bounded by the
// write timeout.
func (c *Config) closeTooBig(ctx context.Context, sess *session.Session) error {
	ce := tooBigClose()
	_ = sess.CloseWith(ce)
	t := time.NewTimer(c.WriteTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return ce
}
