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

// readMessage reads the next message, at most Config.MaxMessageBytes of it.
// The limit is applied here rather than with gorilla's SetReadLimit, which
// answers by itself with a bare close frame and an error that would end the
// session as a lost connection (1006), telling neither the application nor
// a SockJS client (which ignores WebSocket close codes) why.
func (c *Config) readMessage(conn *websocket.Conn) (int, []byte, error) {
	typ, r, err := conn.NextReader()
	if err != nil {
		return 0, nil, err
	}
	if c.MaxMessageBytes <= 0 {
		data, err := io.ReadAll(r)
		return typ, data, err
	}
	data, err := io.ReadAll(io.LimitReader(r, c.MaxMessageBytes+1))
	if err != nil {
		return typ, nil, err
	}
	if int64(len(data)) > c.MaxMessageBytes {
		return typ, nil, errMessageTooBig
	}
	return typ, data, nil
}

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
