package client

import (
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// Transport names, as sockjs-client spells them.
const (
	WebSocket    = "websocket"
	XHRStreaming = "xhr-streaming"
	EventSource  = "eventsource"
	XHRPolling   = "xhr-polling"
)

// transportOrder is the order in which sockjs-client 1.6.1 tries the
// transports this package has (lib/transport-list.js: websocket,
// xhr-streaming, xdr-streaming, eventsource, iframe-eventsource, htmlfile,
// iframe-htmlfile, xhr-polling, ...).
var transportOrder = []string{WebSocket, XHRStreaming, EventSource, XHRPolling}

// Defaults for zero-valued Options fields.
const (
	DefaultInfoTimeout      = 8 * time.Second
	DefaultMinOpenTimeout   = 5 * time.Second
	DefaultHeartbeatTimeout = 60 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMaxQueuedBytes   = 8 << 20
	DefaultMaxInboxBytes    = 8 << 20
	DefaultMaxFrameBytes    = 16 << 20
)

// Options configures Dial. The zero value (or a nil *Options) tries every
// transport the server offers, in sockjs-client's order.
type Options struct {
	// Transports lists the transports to try, by sockjs-client's names
	// (WebSocket, XHRStreaming, EventSource, XHRPolling), in the order
	// they are tried: {XHRPolling, WebSocket} tries xhr-polling first and
	// websocket only if it fails. A name given twice is tried once;
	// websocket is skipped when /info says it is off. Nil means all four
	// in sockjs-client's order: websocket, xhr-streaming, eventsource,
	// xhr-polling.
	Transports []string

	// Header is added to every request: /info, the websocket handshake,
	// every poll, stream and send. Use it for Authorization, or an Origin
	// when the server checks one.
	Header http.Header

	// HTTPClient makes every HTTP request (/info, streams, polls, sends).
	// Its Timeout must be zero or longer than a stream lives, or it cuts
	// streams short; its Jar holds the session's cookies. Nil means a
	// client on http.DefaultTransport, with a cookie jar of its own when
	// /info says cookies are needed (sticky sessions).
	HTTPClient *http.Client

	// Dialer opens websockets. Nil means a dialer with the TLS
	// configuration, proxy and dialer of the *http.Transport under
	// HTTPClient's Transport, and HTTPClient's cookie jar. A Transport
	// that wraps another RoundTripper (logging, authentication) should have
	// an Unwrap() http.RoundTripper method returning the one it wraps: the
	// *http.Transport is looked for through it, wrapper after wrapper.
	// Without one the websocket gets Go's defaults (no custom root CAs,
	// the proxy from the environment); set Dialer then. The websocket
	// handshake does not go through HTTPClient: give it headers with
	// Header.
	Dialer *websocket.Dialer

	// InfoTimeout bounds the GET /info that starts Dial, answer read in
	// full, whatever Dial's context allows: a server that accepts and never
	// answers makes Dial fail with a *CloseError 1002 wrapping ErrTimeout.
	// Zero means DefaultInfoTimeout, 8 s as sockjs-client's; negative
	// leaves /info bounded by Dial's context only.
	InfoTimeout time.Duration

	// OpenTimeout bounds how long one transport may take to open (to
	// deliver the "o" frame) before the next one is tried. Zero means as
	// sockjs-client computes it from the /info round trip (2 × RTO, RTO
	// being 300 ms + RTT, or 4 × RTT past 100 ms) but at least
	// DefaultMinOpenTimeout: a loaded machine or a TLS handshake easily
	// takes longer than sockjs-client's browser-tuned 600 ms.
	OpenTimeout time.Duration

	// HeartbeatTimeout is how long the server may send nothing at all (not
	// even a heartbeat "h", a websocket ping or a new poll's answer) before
	// the session is ended with ErrTimeout. Servers send heartbeats every
	// 25 s by default. Zero means 60 s; negative disables the check.
	HeartbeatTimeout time.Duration

	// WriteTimeout bounds each send (one xhr_send request, one websocket
	// write). Zero means 10 s.
	WriteTimeout time.Duration

	// MaxQueuedBytes bounds the encoded messages waiting to be sent; Send
	// fails with ErrQueueFull past it. Zero means 8 MiB.
	MaxQueuedBytes int

	// MaxInboxBytes bounds the messages received and not yet read with
	// Recv; past it the client stops reading from the server until Recv
	// catches up (the server then holds, or drops a too slow client by its
	// own policy). Zero means 8 MiB.
	MaxInboxBytes int

	// MaxFrameBytes bounds one frame from the server. Zero means 16 MiB.
	MaxFrameBytes int
}

// withDefaults returns a copy with zero fields set.
func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.InfoTimeout == 0 {
		r.InfoTimeout = DefaultInfoTimeout
	}
	if r.HeartbeatTimeout == 0 {
		r.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if r.WriteTimeout <= 0 {
		r.WriteTimeout = DefaultWriteTimeout
	}
	if r.MaxQueuedBytes <= 0 {
		r.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if r.MaxInboxBytes <= 0 {
		r.MaxInboxBytes = DefaultMaxInboxBytes
	}
	if r.MaxFrameBytes <= 0 {
		r.MaxFrameBytes = DefaultMaxFrameBytes
	}
	return r
}

// openTimeout is the time one transport gets to open, given the /info
// round trip.
func (o *Options) openTimeout(rtt time.Duration) time.Duration {
	if o.OpenTimeout > 0 {
		return o.OpenTimeout
	}
	rto := 300*time.Millisecond + rtt
	if rtt > 100*time.Millisecond {
		rto = 4 * rtt
	}
	return max(2*rto, DefaultMinOpenTimeout)
}
