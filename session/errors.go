package session

import (
	"errors"
	"fmt"
)

// Errors returned by Session methods. A session's end is always reported as
// a *CloseError whose Unwrap gives one of the causes below and which also
// matches ErrClosed, so both of these work:
//
//	errors.Is(err, session.ErrClosed)        // the session is over
//	errors.Is(err, session.ErrClientClosed)  // ... because the client left
var (
	// ErrClosed matches every error that reports a closed session.
	ErrClosed = errors.New("sockjs: session closed")
	// ErrReceiverBusy is returned by Attach while another receiver is attached.
	ErrReceiverBusy = errors.New("sockjs: another connection still open")
	// ErrDetached is returned by Next on a receiver that was detached.
	ErrDetached = errors.New("sockjs: receiver detached")
	// ErrSendBusy is returned by BeginSend when another send to the same
	// session kept the send slot for all of Config.SendTimeout.
	ErrSendBusy = errors.New("sockjs: another send to this session is in progress; send one at a time")

	// ErrClientClosed: the client closed the session or its connection went
	// away while a request was receiving.
	ErrClientClosed = errors.New("sockjs: closed by the client")
	// ErrTimedOut: no request came for the disconnect delay, or a websocket
	// peer stopped answering pings.
	ErrTimedOut = errors.New("sockjs: session timed out")
	// ErrServerClosed: the application or the server closed the session.
	ErrServerClosed = errors.New("sockjs: closed by the server")
	// ErrWriteFailed: writing to the client failed or passed its deadline.
	ErrWriteFailed = errors.New("sockjs: write to the client failed")
	// ErrSlowConsumer: the client did not take messages as fast as they
	// were sent and the outbound queue passed its limit.
	ErrSlowConsumer = errors.New("sockjs: outbound queue full (slow client)")
	// ErrSendTimeout: a send from the client waited longer than
	// Config.SendTimeout for the application to read earlier messages;
	// the session was closed rather than drop the send silently.
	ErrSendTimeout = errors.New("sockjs: the application did not read the client's messages in time")
)

// CloseError reports how a session ended: the code and reason of the close
// frame the client was (or would have been) sent, and the cause.
type CloseError struct {
	// Code is the close code: the application's (3000-4999), the
	// client's websocket close code, or one the server chose (1002 for an
	// interrupted connection, 1006 for a vanished client, 1008 for a slow
	// one, 1013 when the application did not take a send in time).
	Code int
	// Reason is the close reason text that went with Code.
	Reason string
	// Cause is one of ErrClientClosed, ErrTimedOut, ErrServerClosed,
	// ErrWriteFailed, ErrSlowConsumer or ErrSendTimeout.
	Cause error
}

// Error implements error.
func (e *CloseError) Error() string {
	return fmt.Sprintf("%v (close code %d, %q)", e.Cause, e.Code, e.Reason)
}

// Unwrap returns the cause.
func (e *CloseError) Unwrap() error { return e.Cause }

// Is makes every CloseError match ErrClosed.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }
