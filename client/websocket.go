package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsTransport is the websocket transport: one connection carrying frames
// as text messages both ways.
type wsTransport struct {
	conn      *websocket.Conn
	closeOnce sync.Once
	closed    chan struct{}
}

// dialWebSocket opens {session}/websocket, ws: or wss: after the
// endpoint's scheme, with the endpoint's query.
func dialWebSocket(ctx context.Context, sessionURL string, e *env) (*wsTransport, error) {
	u := withQuery("ws"+strings.TrimPrefix(sessionURL, "http")+"/websocket", e.query)
	conn, resp, err := e.dialer.DialContext(ctx, u, e.header.Clone())
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket handshake answered %s: %w", resp.Status, err)
		}
		if e.wsHint != "" && ctx.Err() == nil {
			return nil, fmt.Errorf("%w; %s", err, e.wsHint)
		}
		return nil, err
	}
	conn.SetReadLimit(int64(e.maxFrame))
	return &wsTransport{conn: conn, closed: make(chan struct{})}, nil
}

func (t *wsTransport) next() (parsedFrame, error) {
	for {
		typ, b, err := t.conn.ReadMessage()
		if err != nil {
			select {
			case <-t.closed:
				return parsedFrame{}, errAborted
			default:
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return parsedFrame{}, fmt.Errorf("websocket closed by the server without a close frame: %d %q", ce.Code, ce.Text)
			}
			return parsedFrame{}, err
		}
		if typ != websocket.TextMessage {
			return parsedFrame{}, fmt.Errorf("%w: binary websocket message", errBadFrame)
		}
		if len(b) == 0 {
			continue
		}
		return parseFrame(b)
	}
}

func (t *wsTransport) send(ctx context.Context, payload []byte) error {
	// ctx carries Options.WriteTimeout; gorilla takes a deadline, not a
	// context, and abort closes the connection under a blocked write.
	dl, _ := ctx.Deadline()
	if err := t.conn.SetWriteDeadline(dl); err != nil {
		return t.failed(err)
	}
	if err := t.conn.WriteMessage(websocket.TextMessage, payload); err != nil {
		return t.failed(err)
	}
	return nil
}

func (t *wsTransport) failed(err error) error {
	select {
	case <-t.closed:
		return errAborted
	default:
		return err
	}
}

// closeWith sends a websocket close frame with code and reason (a second
// at most), then closes the connection.
func (t *wsTransport) closeWith(code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	_ = t.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	t.abort()
}

func (t *wsTransport) abort() {
	t.closeOnce.Do(func() {
		close(t.closed)
		_ = t.conn.Close()
	})
}

// onAlive counts pings as signs of life and answers them, as gorilla's
// default handler does.
func (t *wsTransport) onAlive(f func()) {
	t.conn.SetPingHandler(func(data string) error {
		f()
		err := t.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		var ne net.Error
		if err == websocket.ErrCloseSent || errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
}
