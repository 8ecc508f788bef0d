package transports

import (
	"errors"
	"net/http"
	"time"

	"github.com/sockline/sockline/session"
)

// Sessions is how transports find sessions; package sockjs implements it.
type Sessions interface {
	// Open returns the session with id, creating it (and starting the
	// application's handler for it) if it does not exist. transport is the
	// name of the transport asking, reported to the application.
	Open(id string, transport string, r *http.Request) *session.Session
	// OpenConnection returns a new session that lives as long as one
	// connection and is not registered under id: websocket sessions, which
	// the protocol lets share an id with a live session.
	OpenConnection(id string, transport string, r *http.Request) *session.Session
	// Lookup returns an existing session.
	Lookup(id string) (*session.Session, bool)
}

// Config holds what transports need from the handler's options, with
// defaults already applied.
type Config struct {
	// ResponseLimit is the number of bytes after which a streaming response
	// ends so that the client reconnects (and the browser frees memory).
	ResponseLimit int
	// WriteTimeout bounds every write to a client.
	WriteTimeout time.Duration
	// MaxMessageBytes bounds a request body or WebSocket message from a client.
	MaxMessageBytes int64
	// HeartbeatDelay is the session heartbeat delay (for websocket read
	// deadlines); zero or negative when heartbeats are off.
	HeartbeatDelay time.Duration
	// PingInterval is how often websockets are pinged (the sessions send
	// the pings); with PongTimeout it sets the websocket read deadline.
	// Zero means HeartbeatDelay; no read deadline when neither is positive.
	PingInterval time.Duration
	// PongTimeout is how long a websocket peer has to answer a ping.
	PongTimeout time.Duration
	// CheckOrigin decides websocket handshakes; nil allows all (the handler
	// has already applied its origin policy when it passes nil).
	CheckOrigin func(r *http.Request) bool
	// OnAnotherConnection, when set, is called for every 2010 "Another
	// connection still open" answer, with the transport's name.
	OnAnotherConnection func(transport string)
	// WSOptions are the websocket endpoints' settings.
	WSOptions
	// Track, when set, is called as a websocket's handler returns while
	// its connection goes on (see wsConn); the connection calls the
	// function it returns once it has ended. Package sockjs counts these
	// connections for Shutdown.
	Track func() (done func())
	// FrameAncestors, unless empty, is sent with htmlfile pages as a
	// Content-Security-Policy "frame-ancestors" directive (the origin
	// policy's, as for the iframe page), so that only allowed pages can
	// embed a session's htmlfile stream.
	FrameAncestors string
}

// Transport names, as they appear in URLs and in Session.Transport.
const (
	NameWebSocket    = "websocket"
	NameXHR          = "xhr"
	NameXHRSend      = "xhr_send"
	NameXHRStreaming = "xhr_streaming"
	NameEventSource  = "eventsource"
	NameHTMLFile     = "htmlfile"
	NameJSONP        = "jsonp"
	NameJSONPSend    = "jsonp_send"
)

const cacheNever = "no-store, no-cache, no-transform, must-revalidate, max-age=0"

// NoCache sets the headers that keep every proxy and browser from caching a
// transport response.
func NoCache(h http.Header) {
	h.Set("Cache-Control", cacheNever)
}

// writer writes frames to one response. A write deadline bounds each write
// in progress, and is not left to cut an idle response: over HTTP/2 a
// stream's write deadline is a timer that resets the stream when it fires,
// written or not, so there it is set before each write and its flush and
// cleared after them. HTTP/1.1 only fails writes made after the deadline,
// so there a deadline is kept between writes and renewed only once half of
// it has passed (a deadline costs timer work, twice per write, which a
// broadcast to many streams pays per delivery), and finish clears it so
// that the connection's next request does not inherit it. For the same
// reason the server's own http.Server.WriteTimeout, which HTTP/2 arms as
// such a timer on every stream, is cleared when the writer is made.
type writer struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	written int
	// keep: the deadline may stay set between writes (HTTP/1.x).
	keep     bool
	deadline time.Time // the deadline set, while keep
}

func newWriter(w http.ResponseWriter, r *http.Request, timeout time.Duration) *writer {
	wr := &writer{w: w, rc: http.NewResponseController(w), timeout: timeout, keep: r.ProtoMajor == 1}
	_ = wr.rc.SetWriteDeadline(time.Time{}) // fails only where deadlines are unsupported
	return wr
}

// write sends p at once. A server that cannot set deadlines or flush (a
// ResponseWriter wrapped without Unwrap) still works, only without them.
func (wr *writer) write(p []byte) error {
	if wr.timeout > 0 {
		now := time.Now()
		if !wr.keep || wr.deadline.Sub(now) < wr.timeout/2 {
			d := now.Add(wr.timeout)
			if err := wr.rc.SetWriteDeadline(d); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			if wr.keep {
				wr.deadline = d
			} else {
				defer func() { _ = wr.rc.SetWriteDeadline(time.Time{}) }()
			}
		}
	}
	n, err := wr.w.Write(p)
	wr.written += n
	if err != nil {
		return err
	}
	if err := wr.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// finish clears a deadline kept between writes; call it when the response
// is done. net/http clears it too after every response, but a handler may
// be served by something else.
func (wr *writer) finish() {
	if !wr.deadline.IsZero() {
		_ = wr.rc.SetWriteDeadline(time.Time{})
	}
}

// clearReadDeadline lifts the server's read deadline (http.Server's
// ReadTimeout or ReadHeaderTimeout) from a request whose body has been
// read: a receiving response may then stay open far longer than the
// server lets a client take to send a request, and must not be cut when
// that time is up.
func clearReadDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
}
