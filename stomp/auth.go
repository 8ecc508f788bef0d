package stomp

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Principal is who a connection acts for, as Config.Authenticate decided.
// Name addresses user destinations: a SEND to /user/{Name}/queue/... reaches
// every connection of that principal. An empty Name is anonymous: such a
// connection may subscribe to /user/queue/... and get replies from
// application handlers, but nobody can address it by name.
type Principal struct {
	// Name is the user name. It must not contain "/", which would make
	// /user/{Name}/... ambiguous; Authenticate results with one are
	// refused.
	Name string
	// Value is anything the application wants to keep with the
	// connection (roles, a user record); the package never looks at it.
	Value any
}

// ConnectRequest is what Config.Authenticate decides on: the CONNECT frame
// and the HTTP request that opened the underlying session.
type ConnectRequest struct {
	// Frame is the CONNECT (or STOMP) frame.
	Frame *Frame
	// Login and Passcode are the frame's login and passcode headers.
	Login, Passcode string
	// Request is the HTTP request that opened the SockJS session (a
	// detached copy: see sockjs.Session.Request) or the websocket: its
	// context carries what middleware put there (an authenticated user),
	// and it has the URL, cookies and TLS state. Do not change it.
	Request *http.Request
	// Header is the header of the HTTP request that opened the SockJS
	// session or websocket: cookies, Authorization, X-Forwarded-For. Over
	// SockJS's HTTP transports it is the request that created the session,
	// not the later polls.
	Header http.Header
	// RemoteAddr is that request's remote address.
	RemoteAddr string
	// Transport is the SockJS transport ("websocket", "xhr_streaming",
	// ...), or "stomp-websocket" for Server.WebSocketHandler.
	Transport string
}

// Op is what Config.Authorize is asked to allow.
type Op string

// The operations Config.Authorize sees.
const (
	OpSubscribe Op = CmdSubscribe
	OpSend      Op = CmdSend
)

// ErrRefused is the error to wrap in Authenticate and Authorize hooks to
// tell the client why: the text of an error that wraps ErrRefused goes into
// the ERROR frame's message header (fmt.Errorf("%w: admins only",
// ErrRefused) is sent as "admins only"). Any other error is reported to the
// client as a plain "authentication failed" or "access refused", so that
// internal details do not leak.
var ErrRefused = errors.New("stomp: refused")

// Authenticator turns a CONNECT into a Principal, or refuses it with an
// error. See Config.Authenticate.
type Authenticator func(ctx context.Context, r *ConnectRequest) (Principal, error)

// Authorizer allows or refuses one SUBSCRIBE or SEND. See Config.Authorize.
type Authorizer func(ctx context.Context, p Principal, op Op, destination string) error

// LoginAuthenticator takes the CONNECT login header as the user name,
// without checking any password: for tests and demonstrations only.
func LoginAuthenticator(_ context.Context, r *ConnectRequest) (Principal, error) {
	return Principal{Name: r.Login}, nil
}

// refusalText is what the client is told about a hook's error: its text
// without the "stomp: refused: " of fmt.Errorf("%w: ...", ErrRefused).
func refusalText(err error, fallback string) string {
	if !errors.Is(err, ErrRefused) {
		return fallback
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, ErrRefused.Error()+": "); ok && rest != "" {
		return rest
	}
	return msg
}
