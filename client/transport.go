package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// transport is one open transport of a session. next is called by one
// goroutine at a time (Dial, then the reader), send by one goroutine at a
// time (the sender); abort and closeWith may be called from any goroutine,
// more than once.
type transport interface {
	// next returns the next frame from the server, reopening streams and
	// polls as they end.
	next() (parsedFrame, error)
	// send delivers one JSON array of quoted messages.
	send(ctx context.Context, payload []byte) error
	// closeWith tells the server code and reason where the transport has a
	// way to (a websocket close frame), then aborts.
	closeWith(code int, reason string)
	// abort ends every request or connection of the transport at once.
	abort()
	// onAlive registers f to be called on transport-level signs of life
	// that carry no frame (websocket pings).
	onAlive(f func())
}

// errAborted is returned by a transport's next and send after abort.
var errAborted = errors.New("transport closed")

// openTransport starts transport name on the session URL and waits up to
// timeout for its "o" frame.
func openTransport(ctx context.Context, name, sessionURL string, e *env, timeout time.Duration) (transport, error) {
	var tr transport
	if name == WebSocket {
		dctx, cancel := context.WithTimeout(ctx, timeout)
		ws, err := dialWebSocket(dctx, sessionURL, e)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return nil, &CloseError{Code: codeOpenTimeout, Reason: reasonOpenTimeout, Err: fmt.Errorf("%w: websocket handshake: %w", ErrTimeout, err)}
			}
			return nil, transportError(name, err)
		}
		tr = ws
	} else {
		tr = newHTTPTransport(name, sessionURL, e)
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() { timedOut.Store(true); tr.abort() })
	stop := context.AfterFunc(ctx, tr.abort)
	f, err := tr.next()
	for err == nil && f.kind == frameHeartbeat { // the xhr-streaming prelude
		f, err = tr.next()
	}
	fired := !timer.Stop()
	cancelled := !stop()
	switch {
	case cancelled:
		tr.abort()
		return nil, ctx.Err()
	case fired || timedOut.Load():
		tr.abort()
		return nil, &CloseError{Code: codeOpenTimeout, Reason: reasonOpenTimeout,
			Err: fmt.Errorf("%w: %s sent no open frame within %v", ErrTimeout, name, timeout)}
	case err != nil:
		tr.abort()
		return nil, transportError(name, err)
	case f.kind == frameClose:
		tr.abort()
		return nil, &CloseError{Code: f.code, Reason: f.reason, Err: ErrServerClosed}
	case f.kind != frameOpen:
		tr.abort()
		return nil, transportError(name, fmt.Errorf("%w: %q frame before the open frame", errBadFrame, f.kind))
	}
	return tr, nil
}
