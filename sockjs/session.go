package sockjs

import (
	"context"
	"net/http"

	"github.com/sockline/sockline/internal/frame"
	"github.com/sockline/sockline/session"
)

// Session is one client's SockJS session as the application sees it. Its
// methods are safe for concurrent use; Send never waits for the network.
type Session struct {
	s   *session.Session
	req requestInfo
}

// ID returns the session id chosen by the client.
func (s *Session) ID() string { return s.s.ID() }

// Context returns a context that is cancelled when the session closes.
func (s *Session) Context() context.Context { return s.s.Context() }

// Transport returns the name of the transport that opened the session, as
// in the URL: "websocket", "xhr_streaming", "xhr", "eventsource",
// "htmlfile" or "jsonp", or "rawwebsocket" for {prefix}/websocket.
func (s *Session) Transport() string { return s.req.transport }

// Header returns the headers of the request that opened the session. The
// caller must not change them.
func (s *Session) Header() http.Header { return s.req.header }

// Cookies parses the cookies of the request that opened the session.
func (s *Session) Cookies() []*http.Cookie {
	return (&http.Request{Header: s.req.header}).Cookies()
}

// RemoteAddr returns the network address of the client that opened the
// session, as http.Request.RemoteAddr gives it (behind a proxy, the proxy's).
func (s *Session) RemoteAddr() string { return s.req.remoteAddr }

// Recv returns the next message from the client. After the session closes
// (and every message received before that has been read) it returns a
// *CloseError; errors.Is tells why: ErrClientClosed, ErrTimedOut,
// ErrServerClosed, ErrWriteFailed or ErrSlowConsumer. It returns ctx's
// error if ctx ends first.
func (s *Session) Recv(ctx context.Context) (string, error) { return s.s.Recv(ctx) }

// Send queues msg for the client and returns at once. Messages are
// delivered in the order Send was called. It fails with a *CloseError once
// the session is closed.
func (s *Session) Send(msg string) error { return s.s.Send(msg) }

// SendMessage queues a message encoded once with NewMessage; use it to send
// the same message to many sessions.
func (s *Session) SendMessage(m Message) error { return s.s.SendQuoted(m.quoted) }

// Close closes the session: messages already queued are delivered, then the
// client gets a close frame with code and reason (use 3000-4999 for
// application codes; sockjs-client refuses others in its own close). It
// returns nil, or the *CloseError of an earlier close.
func (s *Session) Close(code int, reason string) error { return s.s.Close(code, reason) }

// Err returns nil while the session is open and then its *CloseError.
func (s *Session) Err() error { return s.s.Err() }

// Message is a message encoded once for sending to many sessions.
type Message struct{ quoted []byte }

// NewMessage encodes msg for SendMessage and Handler.Broadcast.
func NewMessage(msg string) Message { return Message{quoted: frame.Quote(msg)} }
