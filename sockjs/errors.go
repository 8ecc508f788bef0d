package sockjs

import "github.com/sockline/sockline/session"

// CloseError reports how a session ended. errors.Is(err, ErrClosed) holds
// for every CloseError; errors.Is with a cause below tells which end closed
// it and why.
type CloseError = session.CloseError

// Errors reported by Session methods.
var (
	// ErrClosed matches every error of a closed session.
	ErrClosed = session.ErrClosed
	// ErrClientClosed: the client closed the session or went away.
	ErrClientClosed = session.ErrClientClosed
	// ErrTimedOut: no connection came for the disconnect delay, or a
	// websocket client stopped answering pings.
	ErrTimedOut = session.ErrTimedOut
	// ErrServerClosed: Session.Close or Handler.Shutdown closed it.
	ErrServerClosed = session.ErrServerClosed
	// ErrWriteFailed: a write to the client failed or timed out.
	ErrWriteFailed = session.ErrWriteFailed
	// ErrSlowConsumer: the client fell more than Options.MaxQueuedBytes behind.
	ErrSlowConsumer = session.ErrSlowConsumer
	// ErrSendTimeout: the application did not read the client's messages
	// within Options.SendTimeout, so a send could not be delivered; the
	// session was closed with 1013.
	ErrSendTimeout = session.ErrSendTimeout
)
