package client

import (
	"errors"
	"fmt"
)

// Causes of a session's end, matched with errors.Is against the error Recv,
// Send and Dial return. Every error that ends a session is a *CloseError
// wrapping one of them.
var (
	// ErrServerClosed: the server sent a close frame; CloseError.Code and
	// Reason are the server's.
	ErrServerClosed = errors.New("client: session closed by the server")
	// ErrClosed: Close was called on this side; CloseError.Code and Reason
	// are the ones given to Close.
	ErrClosed = errors.New("client: session closed")
	// ErrTransport: the transport failed (connection refused or cut, an
	// HTTP error status, a malformed frame). Retry, or try another
	// transport with Options.Transports.
	ErrTransport = errors.New("client: transport failed")
	// ErrTimeout: /info did not answer within Options.InfoTimeout, a
	// transport did not open within the open timeout, or the server sent
	// nothing (not even a heartbeat) for Options.HeartbeatTimeout.
	ErrTimeout = errors.New("client: timed out")
	// ErrQueueFull: Send would queue more than Options.MaxQueuedBytes; the
	// message was not queued and the session stays open. Wait with Flush.
	ErrQueueFull = errors.New("client: send queue full")
)

// CloseError tells how a session ended. Code and Reason are those of the
// SockJS close frame when the server sent one (errors.Is(err,
// ErrServerClosed)), the ones given to Close (ErrClosed), or, for a failure
// on this side, the codes sockjs-client reports: 1006 for a broken transport
// (ErrTransport), 2007 for a transport that did not open in time and 1006
// for a silent server (ErrTimeout), 2000 when every transport failed.
type CloseError struct {
	Code   int
	Reason string
	// Err is the cause; errors.Is(closeErr, ErrTransport) and the like
	// look through it.
	Err error
}

// Error returns the code, the reason and the cause.
func (e *CloseError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("client: session closed: %d %q", e.Code, e.Reason)
	}
	return fmt.Sprintf("%v: %d %q", e.Err, e.Code, e.Reason)
}

// Unwrap returns the cause.
func (e *CloseError) Unwrap() error { return e.Err }

// Close codes this package uses for failures on the client side, as
// sockjs-client does.
const (
	codeNormal        = 1000
	codeBroken        = 1006
	codeAllFailed     = 2000
	codeOpenTimeout   = 2007
	reasonAllFailed   = "All transports failed"
	reasonOpenTimeout = "Transport timed out"
)

// transportError wraps err as a failure of the named transport.
func transportError(name string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrTransport, name, err)
}
