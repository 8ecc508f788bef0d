package sockjsgo

import (
	"context"
	"errors"
	"net/http"
	"strings"

	igm "github.com/igm/sockjs-go/v3/sockjs"
	"github.com/sockline/sockline/sockjs"
)

// Session is the method set of sockjs-go v3's Session: what a sockjs-go
// handler may call. Both sockjs-go's Session and this package's sessions
// satisfy it.
type Session interface {
	// ID returns the session id.
	ID() string
	// Recv returns the next message; ErrSessionNotOpen once closed.
	Recv() (string, error)
	// RecvCtx is Recv bounded by ctx.
	RecvCtx(ctx context.Context) (string, error)
	// Send queues msg; ErrSessionNotOpen once closed.
	Send(msg string) error
	// Close closes the session with a close frame; ErrSessionNotOpen if it
	// was closed already.
	Close(status uint32, reason string) error
	// Request returns the request that created the session.
	Request() *http.Request
	// GetSessionState returns SessionActive or SessionClosed.
	GetSessionState() SessionState
	// ReceiverType returns the transport that opened the session.
	ReceiverType() ReceiverType
	// Context is cancelled when the session closes.
	Context() context.Context
}

// Types and values of sockjs-go, so that code comparing with them is
// unchanged.
type (
	// Options is sockjs-go's Options; see the package doc for how each
	// field maps onto Sockline.
	Options = igm.Options
	// SessionState is sockjs-go's session state.
	SessionState = igm.SessionState
	// ReceiverType is sockjs-go's transport kind.
	ReceiverType = igm.ReceiverType
)

// Session states, as in sockjs-go.
const (
	SessionOpening = igm.SessionOpening
	SessionActive  = igm.SessionActive
	SessionClosing = igm.SessionClosing
	SessionClosed  = igm.SessionClosed
)

// Receiver types, as in sockjs-go.
const (
	ReceiverTypeNone         = igm.ReceiverTypeNone
	ReceiverTypeXHR          = igm.ReceiverTypeXHR
	ReceiverTypeEventSource  = igm.ReceiverTypeEventSource
	ReceiverTypeHtmlFile     = igm.ReceiverTypeHtmlFile
	ReceiverTypeJSONP        = igm.ReceiverTypeJSONP
	ReceiverTypeXHRStreaming = igm.ReceiverTypeXHRStreaming
	ReceiverTypeRawWebsocket = igm.ReceiverTypeRawWebsocket
	ReceiverTypeWebsocket    = igm.ReceiverTypeWebsocket
)

// ErrSessionNotOpen is sockjs-go's error for a closed session, returned by
// Recv, Send and a second Close.
var ErrSessionNotOpen = igm.ErrSessionNotOpen

// DefaultOptions is sockjs-go's DefaultOptions (websocket on, 25 s
// heartbeat, 5 s disconnect delay, 128 KiB response limit), copied at
// start-up.
var DefaultOptions = igm.DefaultOptions

// DefaultJSessionID is sockjs-go's JSESSIONID cookie function, for
// Options.JSessionID.
var DefaultJSessionID = igm.DefaultJSessionID

// Handler serves a sockjs-go handler function on Sockline.
type Handler struct {
	prefix string
	h      *sockjs.Handler
}

// NewHandler is sockjs-go's NewHandler on Sockline: prefix is the path the
// handler is mounted at (requests carry the full path, as with sockjs-go),
// opts are sockjs-go's options and handlerFunc runs once per session in a
// goroutine of its own.
func NewHandler(prefix string, opts Options, handlerFunc func(Session)) *Handler {
	return NewHandlerWith(prefix, opts, nil, handlerFunc)
}

// NewHandlerWith is NewHandler with Sockline options applied last: limits,
// origins, Authorize and the like that sockjs-go has no words for. tune
// may be nil.
func NewHandlerWith(prefix string, opts Options, tune func(*sockjs.Options), handlerFunc func(Session)) *Handler {
	o := convert(prefix, opts)
	if tune != nil {
		tune(&o)
	}
	if handlerFunc == nil {
		handlerFunc = func(Session) {}
	}
	h := sockjs.NewHandler(o, func(ctx context.Context, s *sockjs.Session) {
		handlerFunc(&session{s: s})
		// sockjs-go leaves the session open when the handler returns: keep
		// it until the client leaves or someone closes it.
		<-ctx.Done()
	})
	return &Handler{prefix: o.Prefix, h: h}
}

// convert maps sockjs-go's options onto Sockline's.
func convert(prefix string, opts Options) sockjs.Options {
	o := sockjs.Options{
		Prefix:              strings.TrimRight(prefix, "/"),
		SockJSURL:           opts.SockJSURL,
		ResponseLimit:       int(opts.ResponseLimit),
		DisableWebSocket:    !opts.Websocket,
		RawWebSocket:        opts.RawWebsocket,
		WriteTimeout:        opts.WebsocketWriteTimeout,
		HeartbeatDelay:      opts.HeartbeatDelay,
		DisconnectDelay:     opts.DisconnectDelay,
		CookieFunc:          opts.JSessionID,
		CheckOrigin:         opts.CheckOrigin,
		DisableXHR:          opts.DisableXHR,
		DisableXHRStreaming: opts.DisableXHRStreaming,
		DisableEventSource:  opts.DisableEventSource,
		DisableHTMLFile:     opts.DisableHtmlFile,
		DisableJSONP:        opts.DisableJSONP,
	}
	switch opts.Origin {
	case "":
	case "*":
		o.AllowAnyOrigin = true
	default:
		o.AllowedOrigins = []string{opts.Origin}
	}
	return o
}

// Prefix returns the prefix given to NewHandler, as sockjs-go's does.
func (h *Handler) Prefix() string { return h.prefix }

// ServeHTTP serves every SockJS endpoint under the prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.h.ServeHTTP(w, r) }

// Sockline returns the underlying Sockline handler, for Broadcast, Len,
// Range and Shutdown.
func (h *Handler) Sockline() *sockjs.Handler { return h.h }

// Shutdown closes every session (3000 "Go away!" unless told otherwise by
// Sockline's Shutdown) and waits for their handlers, bounded by ctx.
func (h *Handler) Shutdown(ctx context.Context) error { return h.h.Shutdown(ctx) }

// session adapts a Sockline session to sockjs-go's method set.
type session struct{ s *sockjs.Session }

var _ Session = (*session)(nil)

func (s *session) ID() string { return s.s.ID() }

func (s *session) Recv() (string, error) { return s.RecvCtx(context.Background()) }

func (s *session) RecvCtx(ctx context.Context) (string, error) {
	msg, err := s.s.Recv(ctx)
	return msg, notOpen(err)
}

func (s *session) Send(msg string) error { return notOpen(s.s.Send(msg)) }

func (s *session) Close(status uint32, reason string) error {
	if s.s.Close(int(status), reason) != nil {
		return ErrSessionNotOpen
	}
	return nil
}

func (s *session) Request() *http.Request { return s.s.Request() }

func (s *session) GetSessionState() SessionState {
	if s.s.Err() != nil {
		return SessionClosed
	}
	return SessionActive
}

func (s *session) ReceiverType() ReceiverType {
	switch s.s.Transport() {
	case "websocket":
		return ReceiverTypeWebsocket
	case "rawwebsocket":
		return ReceiverTypeRawWebsocket
	case "xhr_streaming":
		return ReceiverTypeXHRStreaming
	case "xhr":
		return ReceiverTypeXHR
	case "eventsource":
		return ReceiverTypeEventSource
	case "htmlfile":
		return ReceiverTypeHtmlFile
	case "jsonp":
		return ReceiverTypeJSONP
	}
	return ReceiverTypeNone
}

func (s *session) Context() context.Context { return s.s.Context() }

// notOpen turns Sockline's close errors into sockjs-go's one error;
// context errors pass through.
func notOpen(err error) error {
	if errors.Is(err, sockjs.ErrClosed) {
		return ErrSessionNotOpen
	}
	return err
}
