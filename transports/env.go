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
	// PongTimeout is how long a websocket peer has to answer a ping.
	PongTimeout time.Duration
	// CheckOrigin decides websocket handshakes; nil allows all (the handler
	// has already applied its origin policy when it passes nil).
	CheckOrigin func(r *http.Request) bool
	// OnAnotherConnection, when set, is called for every 2010 "Another
	// connection still open" answer, with the transport's name.
	OnAnotherConnection func(transport string)
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

// writer writes frames to one response: a write deadline before each write,
// a flush after it.
type writer struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	written int
}

func newWriter(w http.ResponseWriter, timeout time.Duration) *writer {
	return &writer{w: w, rc: http.NewResponseController(w), timeout: timeout}
}

// write sends p at once. A server that cannot set deadlines or flush (a
// ResponseWriter wrapped without Unwrap) still works, only without them.
func (wr *writer) write(p []byte) error {
	if wr.timeout > 0 {
		if err := wr.rc.SetWriteDeadline(time.Now().Add(wr.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
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
