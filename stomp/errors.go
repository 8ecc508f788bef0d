package stomp

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
)

// AppError is an application error: an /app handler that returned an
// error or panicked, an /app destination nobody handles, or a broker that
// could not take a message (a bus failure). Unlike protocol errors it does
// not end the connection: the frame gets no RECEIPT and the error goes to
// Config.OnError, as Spring routes it to a @MessageExceptionHandler.
type AppError struct {
	// Session is the connection's session id (CONNECTED's session header).
	Session string
	// Principal is the connection's user.
	Principal Principal
	// Command is the frame's command (SEND, SUBSCRIBE, COMMIT, ...).
	Command string
	// Destination is the frame's destination, if it has one.
	Destination string
	// Receipt is the frame's receipt header, which got no RECEIPT.
	Receipt string
	// Err is the error; for a panic, it says so and Panic holds the value.
	Err error
	// Panic is what the handler panicked with, or nil.
	Panic any

	c *conn
}

// Error implements error.
func (e *AppError) Error() string {
	return fmt.Sprintf("stomp: %s to %s: %v", e.Command, e.Destination, e.Err)
}

// Unwrap returns Err.
func (e *AppError) Unwrap() error { return e.Err }

// Text is what the client may be told: the text of an error that wraps
// ErrRefused (without its prefix), a "try again" for a bus or relay
// failure, or "request failed".
func (e *AppError) Text() string {
	switch {
	case errors.Is(e.Err, errBus):
		return "the message could not be passed on; try again"
	case errors.Is(e.Err, errRelay):
		return "the message broker is not available; try again later"
	}
	return strings.TrimPrefix(refusalText(e.Err, "request failed"), "stomp: ")
}

// Reply sends a message to the connection's own subscriptions of
// destination, as AppMessage.Reply does.
func (e *AppError) Reply(destination string, header Header, body []byte) error {
	return e.c.reply(destination, newMessage(header, body), nil)
}

// ErrorHandler receives application errors; see Config.OnError.
type ErrorHandler func(ctx context.Context, e *AppError)

// ErrorsDestination is where the default ErrorHandler sends errors: with
// the default user prefix, a client reads them by subscribing to
// /user/queue/errors.
const ErrorsDestination = "queue/errors"

// appFailed hands an application error to the hook; a panicking hook is
// logged, not fatal.
func (c *conn) appFailed(ctx context.Context, e *AppError) {
	e.Session, e.Principal, e.c = c.id, c.principal, c
	defer func() {
		if r := recover(); r != nil {
			c.srv.cfg.Logger.Error("stomp: OnError hook panicked", "session", c.id, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	c.srv.cfg.OnError(ctx, e)
}

// defaultOnError logs what the client is not told, and sends the client
// an "error" message on its /user/queue/errors subscriptions.
func (s *Server) defaultOnError(_ context.Context, e *AppError) {
	switch {
	case e.Panic != nil:
		s.cfg.Logger.Error("stomp: application handler panicked", "session", e.Session, "destination", e.Destination, "panic", e.Panic)
	case !errors.Is(e.Err, ErrRefused):
		s.cfg.Logger.Error("stomp: application error", "session", e.Session, "command", e.Command, "destination", e.Destination, "err", e.Err)
	}
	h := Header{{HdrContentType, "text/plain;charset=utf-8"}, {HdrMessage, e.Text()}}
	if e.Destination != "" {
		h.Add("x-destination", e.Destination)
	}
	if e.Receipt != "" {
		h.Add("x-receipt", e.Receipt)
	}
	_ = e.Reply(s.cfg.UserPrefix+ErrorsDestination, h, []byte(e.Text()))
}

// appErr makes the AppError of frame f.
func appErr(f *Frame, dest string, err error) *AppError {
	return &AppError{Command: f.Command, Destination: dest, Receipt: f.Header.Get(HdrReceipt), Err: err}
}
