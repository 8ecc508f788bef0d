package sockjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/sockline/sockline/internal/frame"
	"github.com/sockline/sockline/session"
	"github.com/sockline/sockline/transports"
)

// Session is one client's SockJS session as the application sees it. Its
// methods are safe for concurrent use; Send never waits for the network.
//
// # The creating request
//
// A session outlives the HTTP requests that carry it: polling transports
// make a new request for every poll and every send. What the session
// reports of "its request" (Request, Header, Cookies, RemoteAddr,
// Transport, and the values of Context) is the request that created it,
// as it was then, and it never changes: later requests of the same session
// may come with other headers, cookies, addresses (a client that roamed
// networks) or context values, and none of that reaches the session. That
// is on purpose: identity is checked once, when the session is created
// (see Options.Authorize), and sends to an existing session are not
// re-authorized, so what the application sees must be what was checked.
type Session struct {
	s         *session.Session
	req       *http.Request // detached copy of the creating request
	transport string
	proto     string // the websocket subprotocol agreed on
	ev        Events // Options.Events; nil when unset

	mu     sync.Mutex
	values map[any]any // Set and Get
}

// newSession builds the public and the inner session for a request that
// creates one. The inner session's context takes its values from base (the
// creating request's context, or what Options.Authorize returned); its
// cancellation is ignored, since the session outlives the request.
func (h *Handler) newSession(id, transport string, r *http.Request, base context.Context, onExpire func(*session.Session)) *Session {
	ps := &Session{transport: transport, ev: h.opts.Events}
	if transport == transports.NameWebSocket || transport == transports.NameRawWebSocket {
		// The same choice the transport made for the handshake's answer.
		ps.proto = transports.SelectSubprotocol(r, h.opts.WebSocketSubprotocols)
	}
	cfg := h.sessionConfig(onExpire)
	cfg.BaseContext = base
	cfg.Owner = ps
	if ev := ps.ev; ev != nil {
		cfg.OnHeartbeat = func() { ev.Heartbeat(transport) }
	}
	ps.s = session.New(id, cfg)
	ps.req = detachRequest(r, ps.s.Context())
	return ps
}

// detachRequest returns a copy of r that is safe to keep after r's handler
// has returned: headers, URL, form values and the like copied, no body, and
// ctx as its context.
func detachRequest(r *http.Request, ctx context.Context) *http.Request {
	c := r.Clone(ctx)
	c.Body = http.NoBody
	c.GetBody = nil
	c.ContentLength = 0
	c.Response = nil
	return c
}

// publicSession returns the public Session of an inner one built by
// newSession.
func publicSession(s *session.Session) *Session {
	ps, _ := s.Owner().(*Session)
	return ps
}

// ID returns the session id chosen by the client.
func (s *Session) ID() string { return s.s.ID() }

// Context returns the session's context: it carries the values of the
// creating request's context (such as the identity an authentication
// middleware put there), or of the context Options.Authorize returned, and
// it is cancelled when the session closes, not when that request ends.
func (s *Session) Context() context.Context { return s.s.Context() }

// Request returns a copy of the HTTP request that created the session, as
// it was then (see "The creating request" above): method, URL with its
// query, Host, headers, cookies, RemoteAddr, TLS connection state. Its
// body is empty and its Context is the session's context. For the
// websocket transports it is the upgrade (handshake) request. The same copy
// is returned every time and shared by every caller: do not change it
// (Clone it first to make a changed one).
func (s *Session) Request() *http.Request { return s.req }

// Transport returns the name of the transport that opened the session, as
// in the URL: "websocket", "xhr_streaming", "xhr", "eventsource",
// "htmlfile" or "jsonp", or "rawwebsocket" for {prefix}/websocket. It does
// not change when later requests of the session use another transport.
func (s *Session) Transport() string { return s.transport }

// Subprotocol returns the websocket subprotocol agreed on in the
// handshake (see Options.WebSocketSubprotocols), or "" when none was or
// the session is not a websocket's.
func (s *Session) Subprotocol() string { return s.proto }

// Header returns the headers of the request that created the session. The
// caller must not change them.
func (s *Session) Header() http.Header { return s.req.Header }

// Cookies parses the cookies of the request that created the session.
func (s *Session) Cookies() []*http.Cookie { return s.req.Cookies() }

// RemoteAddr returns the network address of the client that created the
// session, as http.Request.RemoteAddr gives it (behind a proxy, the
// proxy's; a later request from another address does not change it).
func (s *Session) RemoteAddr() string { return s.req.RemoteAddr }

// Recv returns the next message from the client. After the session closes
// (and every message received before that has been read) it returns a
// *CloseError; errors.Is tells why: ErrClientClosed, ErrTimedOut,
// ErrServerClosed, ErrWriteFailed or ErrSlowConsumer. It returns ctx's
// error if ctx ends first.
func (s *Session) Recv(ctx context.Context) (string, error) {
	msg, err := s.s.Recv(ctx)
	if err == nil && s.ev != nil {
		s.ev.MessagesIn(s.transport, 1, len(msg))
	}
	return msg, err
}

// RecvJSON reads the next message like Recv and decodes it as JSON into v
// (as json.Unmarshal does). A message that is not the JSON v expects is
// consumed and reported with an error wrapping ErrBadJSON; the session
// stays open, so the caller decides whether to skip it or close.
func (s *Session) RecvJSON(ctx context.Context, v any) error {
	msg, err := s.Recv(ctx)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(msg), v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadJSON, err)
	}
	return nil
}

// ErrBadJSON is wrapped by the error RecvJSON returns for a message that is
// not the JSON expected.
var ErrBadJSON = errors.New("sockjs: message is not the JSON expected")

// Send queues msg for the client and returns at once. Messages are
// delivered in the order Send was called. It fails with a *CloseError once
// the session is closed.
func (s *Session) Send(msg string) error { return s.sendQuoted(frame.Quote(msg), len(msg)) }

// SendJSON encodes v as JSON (as json.Marshal does) and sends the result
// as one message. Encoding errors are returned and nothing is sent.
func (s *Session) SendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sockjs: SendJSON: %w", err)
	}
	return s.sendQuoted(frame.Quote(string(b)), len(b))
}

// SendMessage queues a message encoded once with NewMessage; use it to send
// the same message to many sessions.
func (s *Session) SendMessage(m Message) error { return s.sendQuoted(m.wire(), m.size) }

// sendQuoted queues q, a message of size bytes of text, JSON-encoded.
func (s *Session) sendQuoted(q []byte, size int) error {
	err := s.s.SendQuoted(q)
	if err == nil && s.ev != nil {
		s.ev.MessagesOut(s.transport, 1, size)
	}
	return err
}

// Set stores value under key for the session's lifetime: per-session state
// (a user name, a subscription list) that other goroutines reach through
// Handler.Range. Keys compare as map keys; as with context values, use a
// type of your own to avoid collisions. Safe for concurrent use.
func (s *Session) Set(key, value any) {
	s.mu.Lock()
	if s.values == nil {
		s.values = make(map[any]any)
	}
	s.values[key] = value
	s.mu.Unlock()
}

// Get returns the value Set stored under key, or nil.
func (s *Session) Get(key any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values[key]
}

// Close closes the session: messages already queued are delivered, then the
// client gets a close frame with code and reason. Use a code of 4000-4999
// for the application's own reasons (see the Close constants for the
// ranges); sockjs-client refuses others in its own close. It returns nil,
// or the *CloseError of an earlier close.
func (s *Session) Close(code int, reason string) error { return s.s.Close(code, reason) }

// Err returns nil while the session is open and then its *CloseError.
func (s *Session) Err() error { return s.s.Err() }

// Message is a message encoded once for sending to many sessions. The zero
// Message is the empty message, as NewMessage("") is.
type Message struct {
	quoted []byte
	size   int // of the text, for Events
}

// NewMessage encodes msg for SendMessage and Handler.Broadcast.
func NewMessage(msg string) Message { return Message{quoted: frame.Quote(msg), size: len(msg)} }

// emptyQuoted is the empty message, encoded.
var emptyQuoted = []byte(`""`)

// wire returns the encoded message; the zero Message has none, and queued
// as is it would break every frame it went into.
func (m Message) wire() []byte {
	if m.quoted == nil {
		return emptyQuoted
	}
	return m.quoted
}
