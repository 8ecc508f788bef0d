package sockjs

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Events receives what happens in a Handler, for metrics and tracing (see
// package metrics/prometheus for a ready adapter). Set it in
// Options.Events; nil, the default, costs nothing: every call site is one
// nil check.
//
// Methods are called synchronously where the event happens: on a
// request's goroutine, a session handler's (Send), or the shared timer
// goroutine (Heartbeat). They must be quick, must not block, must not call
// back into the Handler or Session, and must be safe for concurrent use.
// Embed NopEvents to implement only some of them and to keep compiling
// when methods are added.
type Events interface {
	// SessionOpened: a session was created and its handler started.
	SessionOpened(transport string)
	// SessionClosed: a session closed, lifetime after it was created; err
	// tells how (errors.Is(err, ErrSlowConsumer) for a client that fell
	// more than Options.MaxQueuedBytes behind, ErrClientClosed,
	// ErrTimedOut, ErrServerClosed, ErrWriteFailed).
	SessionClosed(transport string, lifetime time.Duration, err *CloseError)
	// MessagesIn: the application read n messages of bytes bytes (their
	// UTF-8 length) from a session with Recv or RecvJSON.
	MessagesIn(transport string, n, bytes int)
	// MessagesOut: n messages of bytes bytes (their text's UTF-8 length,
	// as MessagesIn counts: not the JSON encoding that goes on the wire)
	// were queued for a client by Send, SendMessage, SendJSON or
	// Broadcast (once per session reached).
	MessagesOut(transport string, n, bytes int)
	// AnotherConnection: a receiving request or websocket for a session
	// that already has one was answered with 2010 "Another connection
	// still open" (a client bug, or two tabs sharing a session id).
	AnotherConnection(transport string)
	// Heartbeat: a heartbeat became due on a session's connection (an "h"
	// frame, or on the raw websocket a ping).
	Heartbeat(transport string)
	// OriginRefused: the origin policy refused r with 403 (see
	// Options.AllowedOrigins and Options.CheckOrigin).
	OriginRefused(r *http.Request)
	// AuthorizationRefused: Options.Authorize refused to open a session
	// for r over transport; err is what it returned.
	AuthorizationRefused(r *http.Request, transport string, err error)
	// CarriedRequest: a request of a session owned by another cluster node
	// (see Options.Cluster) was carried there from this node and ended.
	// firstByte is how long the owner took to start the response: the
	// cost of carrying it plus, for a poll, the wait for a message (zero
	// when no response started). outcome tells how it ended: "ok",
	// "timeout" (the owner went silent for Cluster.ForwardTimeout: 504 or
	// a cut stream), "unreachable" (it could not be handed to the owner:
	// 503), "lost" (the session's node is gone; the client got its close
	// frame), "aborted" (the response failed on the way: 502 or a cut
	// stream), "client_gone" (the client left first). A request the owner
	// turned out not to hold, carried again, is reported once.
	CarriedRequest(transport string, firstByte time.Duration, outcome string)
}

// NopEvents implements Events by doing nothing. Embed it in an Events
// implementation to implement only the methods needed.
type NopEvents struct{}

// SessionOpened implements Events.
func (NopEvents) SessionOpened(string) {}

// SessionClosed implements Events.
func (NopEvents) SessionClosed(string, time.Duration, *CloseError) {}

// MessagesIn implements Events.
func (NopEvents) MessagesIn(string, int, int) {}

// MessagesOut implements Events.
func (NopEvents) MessagesOut(string, int, int) {}

// AnotherConnection implements Events.
func (NopEvents) AnotherConnection(string) {}

// Heartbeat implements Events.
func (NopEvents) Heartbeat(string) {}

// OriginRefused implements Events.
func (NopEvents) OriginRefused(*http.Request) {}

// AuthorizationRefused implements Events.
func (NopEvents) AuthorizationRefused(*http.Request, string, error) {}

// CarriedRequest implements Events.
func (NopEvents) CarriedRequest(string, time.Duration, string) {}

// debug reports whether per-session events are logged, so that nothing is
// built for a logger that would drop it.
func (h *Handler) debug() bool {
	return h.opts.Logger.Enabled(context.Background(), slog.LevelDebug)
}

// sessionStarted reports a new session and arranges for its close to be
// reported, to Events and to the debug log, when either listens.
func (h *Handler) sessionStarted(ps *Session, r *http.Request) {
	ev, debug := h.opts.Events, h.debug()
	if ev == nil && !debug {
		return
	}
	created := time.Now()
	if ev != nil {
		ev.SessionOpened(ps.transport)
	}
	if debug {
		h.opts.Logger.Debug("sockjs: session opened", "session", ps.ID(), "transport", ps.transport, "remote", r.RemoteAddr)
	}
	context.AfterFunc(ps.s.Context(), func() {
		lifetime := time.Since(created)
		ce, _ := ps.s.Err().(*CloseError)
		if ce == nil { // cannot happen: the context ends only when the session closes
			ce = &CloseError{Code: 1000, Cause: ErrServerClosed}
		}
		if ev != nil {
			ev.SessionClosed(ps.transport, lifetime, ce)
		}
		if debug {
			h.opts.Logger.Debug("sockjs: session closed", "session", ps.ID(), "transport", ps.transport,
				"code", ce.Code, "reason", ce.Reason, "cause", ce.Cause, "lifetime", lifetime)
		}
	})
}

// anotherConnection reports a 2010 answer.
func (h *Handler) anotherConnection(transport string) {
	if ev := h.opts.Events; ev != nil {
		ev.AnotherConnection(transport)
	}
	if h.debug() {
		h.opts.Logger.Debug("sockjs: another connection still open (2010)", "transport", transport)
	}
}

// allowOrigin applies the origin policy to r (writing the CORS headers or
// the 403) and reports a refusal.
func (h *Handler) allowOrigin(w http.ResponseWriter, r *http.Request) bool {
	if h.policy.Apply(w, r) {
		return true
	}
	if ev := h.opts.Events; ev != nil {
		ev.OriginRefused(r)
	}
	if h.debug() {
		h.opts.Logger.Debug("sockjs: origin refused", "origin", r.Header.Get("Origin"), "path", r.URL.Path, "remote", r.RemoteAddr)
	}
	return false
}
