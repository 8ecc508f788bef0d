package sockjs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/sockline/sockline/internal/tunnel"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/sockline/sockline/session"
)

// Defaults applied to zero-valued Options fields. They are the values of
// sockjs-node where it has one.
const (
	DefaultHeartbeatDelay  = 25 * time.Second
	DefaultDisconnectDelay = 5 * time.Second
	DefaultResponseLimit   = 128 << 10
	DefaultMaxMessageBytes = 1 << 20
	DefaultMaxQueuedBytes  = 8 << 20
	DefaultMaxInboxBytes   = 1 << 20
	DefaultWriteTimeout    = 10 * time.Second
	DefaultPongTimeout     = 10 * time.Second
	// DefaultWebSocketCompressionThreshold is the size below which
	// messages go uncompressed when compression is on.
	DefaultWebSocketCompressionThreshold = 512
	// DefaultSendTimeout is longer than a busy application needs to read
	// an inbox of MaxInboxBytes, and shorter than the 60 s idle timeout of
	// common proxies (nginx, AWS ALB), which would otherwise answer the
	// waiting send with a 504 and leave the client unsure what arrived.
	DefaultSendTimeout = 30 * time.Second
	// DefaultMaxSessions is generous for one process, yet finite: every
	// session holds a goroutine of the application, a timer and up to
	// MaxInboxBytes of unread messages, and most hold a socket. 100,000
	// is above what one process usually serves (file descriptors and
	// memory run out near there: an idle websocket session measured about
	// 36 KiB of resident memory, so 100,000 take some 3.5 GiB) and keeps a
	// flood of session-creating requests from growing the process without
	// end. Size it to your machine: memory / 36 KiB is a ceiling.
	DefaultMaxSessions = 100000
	// DefaultSockJSURL is the sockjs-client build the iframe page loads when
	// Options.SockJSURL is empty: the 1.x release from a public CDN, the
	// file of the npm package sockjs-client@1.6.1 as published.
	DefaultSockJSURL = "https://cdn.jsdelivr.net/npm/sockjs-client@1.6.1/dist/sockjs.min.js"
	// DefaultSockJSIntegrity is the Subresource Integrity hash (SHA-384) of
	// the file DefaultSockJSURL names. The iframe page loads the default
	// URL with it, so that a browser refuses to run anything else the CDN
	// might serve there. It changes with DefaultSockJSURL, never alone.
	DefaultSockJSIntegrity = "sha384-svdnwiXBL+Js+yUneJSRFy24NgGiOfDM/vkQl/vCeVrcbYD6yW8EwPr1FnxTEZsR"
)

// Options configures a Handler. The zero value is ready to use: every field
// documents what zero means, and zero is always the safe, conventional
// choice.
type Options struct {
	// Prefix is the path the handler is mounted at, such as "/echo". It is
	// needed only when the handler sees full request paths: mounted on an
	// http.ServeMux without http.StripPrefix. Under chi's Mount or
	// http.StripPrefix leave it empty.
	Prefix string

	// SockJSURL is the sockjs-client script the iframe page loads (the
	// iframe-based transports run sockjs-client inside that page). Serve it
	// yourself for production and point this at it; it should be the same
	// build your pages use (SockJSScript gives both values for them).
	// Empty means DefaultSockJSURL.
	SockJSURL string
	// SockJSIntegrity is the Subresource Integrity hash of the script
	// SockJSURL names, such as "sha384-" and the base64 of its SHA-384
	// digest (`openssl dgst -sha384 -binary FILE | openssl base64 -A`);
	// several, separated by spaces, are allowed. The iframe page's script
	// tag then carries integrity="..." and crossorigin="anonymous", and
	// browsers refuse to run the script unless its bytes have that hash (a
	// script on another origin must then be served with CORS headers, as
	// public CDNs do). The default URL comes with its hash: empty, with
	// SockJSURL empty or DefaultSockJSURL, means DefaultSockJSIntegrity;
	// empty with another URL means no integrity attribute. Validate
	// refuses a value that is not sha256-, sha384- or sha512- followed by
	// the base64 of a digest of that size, and a hash given without a
	// SockJSURL.
	SockJSIntegrity string

	// HeartbeatDelay is how long a connection may go without any frame
	// before the server sends a heartbeat "h" (and, on websocket, a ping),
	// so that proxies and load balancers do not cut idle connections.
	// Zero means 25 s; a negative value disables heartbeats.
	HeartbeatDelay time.Duration
	// DisconnectDelay is how long a session lives without a receiving
	// connection before it is closed, and how long a closed session is
	// remembered. Zero means 5 s. In a cluster, the delay does not run out
	// while the session store is unreachable or recovering from an empty
	// restart, nor for one delay (plus Cluster.RenewInterval) after: the
	// clients' requests wait at other nodes meanwhile.
	DisconnectDelay time.Duration
	// ResponseLimit is how many bytes a streaming response carries before it
	// ends and the client opens a new one (so that the browser can free
	// what it has read). Zero means 128 KiB.
	ResponseLimit int

	// AllowedOrigins lists the exact origins besides the server's own whose
	// pages may use the handler, e.g. "https://app.example.com". By default
	// only same-origin pages (and clients that send no Origin, such as
	// non-browser programs) are allowed; every other origin gets 403 on
	// every endpoint and a refused websocket handshake, which protects
	// against cross-site WebSocket hijacking.
	AllowedOrigins []string
	// AllowedOriginPatterns lists origins with wildcards, such as
	// "https://*.example.com" or "http://localhost:*".
	AllowedOriginPatterns []string
	// AllowAnyOrigin lets pages of every origin use the handler. Only for
	// endpoints that grant nothing on the strength of cookies. It also
	// lifts the fetch-metadata rule: otherwise a session request without
	// Origin whose Sec-Fetch-Site is "cross-site" or "same-site" (a page
	// of another site loading the URL by <iframe>, <img> or navigation)
	// gets 403 (SECURITY.md).
	AllowAnyOrigin bool
	// AllowNullOrigin lets pages with the opaque origin "null" (sandboxed
	// iframes, file:// pages) in; they are answered "null", never "*". Any
	// site can produce "null", so this is as open as AllowAnyOrigin.
	AllowNullOrigin bool
	// DisableCORS leaves CORS headers and origin checks to the
	// application's own middleware: the handler writes no
	// Access-Control-* header and refuses no origin, websocket handshakes
	// included.
	DisableCORS bool
	// AllowJSONP serves the jsonp transports even though origins are
	// restricted. Browsers load jsonp with a <script> tag, which sends no
	// Origin header, so the origin policy cannot check it: any site could
	// drive a session through it. It is therefore refused (403) unless
	// AllowAnyOrigin is set or you accept that risk here, for instance
	// because sessions grant nothing on the strength of cookies.
	AllowJSONP bool

	// DisableWebSocket turns off the websocket transport, and the raw
	// websocket endpoint with it; /info then says "websocket": false and
	// websocket URLs answer 404.
	DisableWebSocket bool
	// RawWebSocket turns on {prefix}/websocket: a WebSocket without SockJS
	// framing, whose text messages are the application's messages, for
	// clients that are not sockjs-client. Off by default, as in sockjs-node.
	RawWebSocket bool
	// DisableXHR turns off xhr polling. Off by default, as are the switches
	// below; a disabled transport's URLs answer 404, and sockjs-client falls
	// back to another. xhr_send stays on while any transport that sends
	// through it (xhr, xhr_streaming, eventsource, htmlfile) is on.
	DisableXHR bool
	// DisableXHRStreaming turns off xhr streaming.
	DisableXHRStreaming bool
	// DisableEventSource turns off the eventsource transport.
	DisableEventSource bool
	// DisableHTMLFile turns off the htmlfile transport.
	DisableHTMLFile bool
	// DisableJSONP turns off jsonp polling and jsonp_send, whatever
	// AllowJSONP says.
	DisableJSONP bool

	// JSessionID turns on the JSESSIONID cookie for load balancers that
	// keep a client on one server by cookie (sticky sessions): every
	// transport response sets JSESSIONID (keeping the client's value,
	// Path=/; SameSite=None and Secure over HTTPS) and /info tells clients
	// "cookie_needed": true. Off by default, as in sockjs-node.
	JSessionID bool
	// CookieFunc, when set, replaces the JSESSIONID logic: it is called on
	// every transport response (not /info, the greeting or the iframe page)
	// to set whatever cookies a load balancer needs, and /info says
	// "cookie_needed": true.
	CookieFunc func(w http.ResponseWriter, r *http.Request)

	// MaxMessageBytes bounds one request body or websocket message from a
	// client; larger ones are refused (413, or the websocket is closed).
	// Zero means 1 MiB.
	MaxMessageBytes int64
	// MaxQueuedBytes bounds the messages waiting to go to one client. A
	// client that falls this far behind is disconnected with close code 1008
	// and the application sees ErrSlowConsumer. Zero means 8 MiB.
	MaxQueuedBytes int
	// MaxInboxBytes bounds the messages received from one client that the
	// application has not read yet; past it the server stops reading from
	// that client. Zero means 1 MiB.
	MaxInboxBytes int
	// WriteTimeout bounds every write to a client; a client that does not
	// take a frame in time is disconnected. Zero means 10 s.
	WriteTimeout time.Duration
	// SendTimeout bounds how long an HTTP send (xhr_send, jsonp_send) waits
	// for the application. A session takes one send at a time, and room
	// for its body is reserved in the inbox (MaxInboxBytes) before the body
	// is read, so a client firing many sends at once holds at most one body
	// in memory; its messages are then delivered all together or not at
	// all. A send that waits longer than SendTimeout for the application to
	// read closes the session with code 1013 (ErrSendTimeout), rather than
	// losing the messages silently; a second concurrent send that waits
	// that long for the first gets 503 with Retry-After. Websocket messages
	// are not timed: the socket pushes back on the client while the inbox
	// is full. Zero means 30 s (DefaultSendTimeout); negative means no
	// bound.
	SendTimeout time.Duration
	// PongTimeout is how long a websocket client has to answer a ping; a
	// silent websocket is closed after WebSocketPingInterval (by default
	// HeartbeatDelay) + PongTimeout. Zero means 10 s.
	PongTimeout time.Duration
	// WebSocketPingInterval is how often websockets are pinged. Every
	// frame or pong a websocket reads renews its read deadline of
	// WebSocketPingInterval + PongTimeout, so a half-open connection (a
	// client that vanished without closing) is dropped. Zero means
	// HeartbeatDelay, or 25 s when heartbeats are off (negative
	// HeartbeatDelay): turning "h" frames off does not let dead websockets
	// live forever. A negative value turns pings and the read deadline off.
	WebSocketPingInterval time.Duration

	// Cluster makes the handler one node of several sharing sessions
	// through a store and a bus (package cluster/redis), so that no sticky
	// sessions are needed. Nil means one process. See Cluster.
	Cluster *Cluster
	// History keeps the recent messages of chosen topics, so that a
	// session can subscribe from a position and get back what it missed
	// (Handler.SubscribeWith). The zero value keeps none. See
	// HistoryOptions.
	History HistoryOptions
	// Presence tracks which sessions are in which topics (Handler.Join),
	// across nodes. The zero value keeps it in memory. See
	// PresenceOptions.
	Presence PresenceOptions

	// MaxSessions bounds the sessions the handler holds at once: those of
	// every transport, websocket and raw websocket included, and closed
	// ones until they are forgotten (DisconnectDelay after they closed). A
	// request that would create one more is answered 503 with Retry-After
	// (the disconnect delay, in seconds); sockjs-client then tries its next
	// transport and finally reports the failure. Zero means 100,000
	// (DefaultMaxSessions); negative means no bound.
	MaxSessions int
	// MaxSessionsPerClient bounds the sessions of one client address, in
	// the same way and with the same 503; IPv6 clients count by their /64
	// prefix. Zero (the default) means no bound. Behind a proxy every
	// client has the proxy's address: list the proxy in TrustedProxies, or
	// set ClientAddr.
	MaxSessionsPerClient int
	// TrustedProxies lists the proxies whose X-Forwarded-For header is
	// believed, for MaxSessionsPerClient. When a request comes from one of
	// them, its X-Forwarded-For is read from the right, and the first
	// address that is not itself a trusted proxy is the client (anything
	// to its left was written by the client, and could be anything). A
	// request from elsewhere is its own client, whatever header it
	// carries. Empty (the default) trusts no header.
	TrustedProxies []netip.Prefix
	// ClientAddr, when set, names the client of a request for
	// MaxSessionsPerClient instead of the rule above: for a Forwarded
	// header or a CDN's own header. Its result is used as given.
	ClientAddr func(r *http.Request) string

	// Registry stores sessions. Nil means an in-memory registry.
	Registry session.Registry
	// Logger receives the few events that have no caller to return an error
	// to, such as a panic in the session handler, and at Debug level the
	// per-session ones: sessions opened and closed (code, reason, cause,
	// lifetime), refused origins and authorizations, 2010 answers. Nil
	// means slog.Default().
	Logger *slog.Logger

	// Authorize, when set, decides whether a request may open a session,
	// before the session exists: Spring's handshake interceptor, for every
	// transport. It runs for each request that would create a session (the
	// first receiving request of xhr, xhr_streaming, eventsource, htmlfile
	// and jsonp, every websocket and raw websocket handshake, before the
	// upgrade), after the origin policy. Sends (xhr_send, jsonp_send) and
	// later receiving requests of an existing session are not authorized
	// again: the session is the client's credential from then on, as the
	// connection is for a websocket.
	//
	// Returning an error refuses: no session is created, nothing is sent
	// but a 403 Forbidden (401 Unauthorized when the error is, or wraps,
	// ErrUnauthorized) with a short plain-text body; a websocket handshake
	// gets that answer instead of the upgrade. The error's text is not sent
	// to the client (it is given to Events and the debug log).
	//
	// Returning a context makes it the session's: its values are what
	// Session.Context, the HandlerFunc's ctx and Session.Request().Context()
	// carry (return r.Context() or one derived from it to keep the
	// middleware's values too; nil means r.Context()). Its cancellation is
	// ignored: the session ends only when it closes. Authorize runs on the
	// request's goroutine and may block on I/O (a token lookup), bounded by
	// r.Context(). Nil means every session is allowed.
	Authorize func(r *http.Request) (context.Context, error)
	// CheckOrigin, when set, is asked about requests whose Origin the
	// lists above (AllowedOrigins, AllowedOriginPatterns, AllowNullOrigin,
	// AllowAnyOrigin) and the same-origin rule refuse, for rules that lists
	// cannot express; returning true lets the origin in, answered like a
	// listed one. It only widens: an origin the lists allow is never asked
	// about, and to refuse such an origin use Authorize. It is not asked
	// when DisableCORS is set, about requests without an Origin (allowed,
	// unless fetch metadata shows a cross-site load: see AllowAnyOrigin) or with several (always refused), and it does not make
	// jsonp pass (see AllowJSONP). Origins it allows cannot frame the
	// iframe page (its frame-ancestors lists only the lists). It runs on
	// every request with a refused Origin, so it must be quick. Nil means
	// the lists decide alone.
	CheckOrigin func(r *http.Request) bool
	// WebSocketCompression offers permessage-deflate (RFC 7692) on the
	// websocket and raw websocket endpoints to clients that ask for it
	// (browsers do). It trades CPU and about 64 KiB of memory per
	// connection while writing for bandwidth: worth it for large, textual
	// messages over slow links. Off by default.
	WebSocketCompression bool
	// WebSocketCompressionThreshold: with compression agreed, messages
	// (frames) shorter than this many bytes are sent uncompressed, as
	// deflate costs more than it saves on them. Zero means 512 bytes.
	WebSocketCompressionThreshold int
	// WebSocketReadBufferSize and WebSocketWriteBufferSize size each
	// websocket connection's I/O buffers. Every connection holds its read
	// buffer for life; zero means 1 KiB, enough for most messages in one
	// read (longer ones are read a piece at a time). The write buffer is
	// lent by WebSocketWriteBufferPool only while a write is in progress;
	// zero means 4 KiB.
	WebSocketReadBufferSize, WebSocketWriteBufferSize int
	// WebSocketWriteBufferPool lends write buffers to websocket connections
	// only while they write, so that idle connections hold none; a
	// *sync.Pool will do. Nil means a pool shared by every handler of the
	// process.
	WebSocketWriteBufferPool interface {
		Get() any
		Put(any)
	}
	// WebSocketSubprotocols lists the subprotocols the websocket and raw
	// websocket endpoints speak, such as "v12.stomp", "v11.stomp",
	// "v10.stomp". A handshake that offers some (Sec-WebSocket-Protocol)
	// gets the first of its own list, in the client's order of preference,
	// that is here; one that offers none here goes on without one, and the
	// client decides whether to stay. Session.Subprotocol tells the
	// application which was chosen. Nil means none are offered.
	WebSocketSubprotocols []string

	// Events receives the handler's events (sessions opened and closed,
	// messages, 2010 answers, heartbeats, refusals) for metrics; see
	// Events and package metrics/prometheus. Nil costs nothing.
	Events Events
}

// ErrInvalidOptions is wrapped by the error NewHandler panics with and
// Options.Validate returns.
var ErrInvalidOptions = errors.New("sockjs: invalid options")

// Validate reports the first invalid field, wrapping ErrInvalidOptions.
func (o *Options) Validate() error {
	switch {
	case o.Prefix != "" && (o.Prefix[0] != '/' || o.Prefix[len(o.Prefix)-1] == '/'):
		return fmt.Errorf("%w: Prefix %q must start with / and not end with one", ErrInvalidOptions, o.Prefix)
	case o.DisconnectDelay < 0:
		return fmt.Errorf("%w: DisconnectDelay must not be negative (zero means the default 5s)", ErrInvalidOptions)
	case o.ResponseLimit < 0, o.MaxMessageBytes < 0, o.MaxQueuedBytes < 0, o.MaxInboxBytes < 0:
		return fmt.Errorf("%w: size limits must not be negative (zero means the default)", ErrInvalidOptions)
	case o.Cluster != nil && (o.Cluster.Store == nil || o.Cluster.Bus == nil):
		return fmt.Errorf("%w: Cluster needs both a Store and a Bus (see packages cluster/redis and cluster/nats)", ErrInvalidOptions)
	case o.Cluster != nil && len(o.Cluster.Secret) < tunnel.MinSecretBytes:
		return fmt.Errorf("%w: Cluster.Secret must be the same random secret of at least %d bytes on every node (it authenticates what nodes send one another through the Bus)", ErrInvalidOptions, tunnel.MinSecretBytes)
	case o.Cluster != nil && len(o.History.Rules) > 0 && o.History.Store == nil:
		return fmt.Errorf("%w: History.Rules in a cluster need a History.Store shared by the nodes (cluster/redis.NewHistory, cluster/nats Bus.History)", ErrInvalidOptions)
	case o.Presence.TTL < 0:
		return fmt.Errorf("%w: Presence.TTL must not be negative (zero means the default)", ErrInvalidOptions)
	case o.MaxSessionsPerClient < 0:
		return fmt.Errorf("%w: MaxSessionsPerClient must not be negative (zero means no per-client bound)", ErrInvalidOptions)
	case o.WebSocketCompressionThreshold < 0, o.WebSocketReadBufferSize < 0, o.WebSocketWriteBufferSize < 0:
		return fmt.Errorf("%w: websocket sizes must not be negative (zero means the default)", ErrInvalidOptions)
	case o.WriteTimeout < 0, o.PongTimeout < 0:
		return fmt.Errorf("%w: timeouts must not be negative (zero means the default)", ErrInvalidOptions)
	case o.SockJSURL != "" && !validScriptURL(o.SockJSURL):
		return fmt.Errorf("%w: SockJSURL %q must be an http or https URL or a path starting with /", ErrInvalidOptions, o.SockJSURL)
	case o.SockJSIntegrity != "" && !validIntegrity(o.SockJSIntegrity):
		return fmt.Errorf("%w: SockJSIntegrity %q must be a Subresource Integrity hash: sha256-, sha384- or sha512- followed by the standard base64 of the script's digest of that size (several are separated by single spaces)", ErrInvalidOptions, o.SockJSIntegrity)
	case o.SockJSIntegrity != "" && o.SockJSURL == "":
		return fmt.Errorf("%w: SockJSIntegrity is given without SockJSURL: set SockJSURL to the script it is the hash of (the default URL comes with its own hash, DefaultSockJSIntegrity)", ErrInvalidOptions)
	}
	return nil
}

// SockJSScript returns the URL and Subresource Integrity hash of the
// sockjs-client script the iframe page loads, defaults applied: for the
// application's own pages, which should load the same build. integrity is
// empty when no hash is known (a SockJSURL of your own without
// SockJSIntegrity); otherwise put it in the script tag with
// crossorigin="anonymous".
func (o *Options) SockJSScript() (url, integrity string) {
	url, integrity = o.SockJSURL, o.SockJSIntegrity
	if url == "" {
		url = DefaultSockJSURL
	}
	if integrity == "" && url == DefaultSockJSURL {
		integrity = DefaultSockJSIntegrity
	}
	return url, integrity
}

// validIntegrity reports whether v is Subresource Integrity metadata:
// one or more hashes separated by single spaces, each sha256-, sha384- or
// sha512- and the padded standard base64 of a digest of that size. Hash
// options ("?...") are refused: the standard defines none.
func validIntegrity(v string) bool {
	for h := range strings.SplitSeq(v, " ") {
		alg, b64, ok := strings.Cut(h, "-")
		if !ok {
			return false
		}
		var size int
		switch alg {
		case "sha256":
			size = 32
		case "sha384":
			size = 48
		case "sha512":
			size = 64
		default:
			return false
		}
		// The decoder skips line breaks; a hash holds none.
		d, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || len(d) != size || strings.ContainsAny(b64, "\r\n") {
			return false
		}
	}
	return true
}

// validScriptURL reports whether u is an absolute http(s) URL with a host,
// or a path (which may be protocol-relative, "//host/path"): what a page
// may load a script from, and nothing like "javascript:".
func validScriptURL(u string) bool {
	// url.Parse lets control characters through in some parts (the
	// fragment); a script address never needs one.
	if strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return false
	}
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	switch p.Scheme {
	case "http", "https":
		return p.Host != ""
	case "":
		if strings.HasPrefix(u, "//") { // protocol-relative: must name a host
			return p.Host != ""
		}
		return strings.HasPrefix(u, "/")
	}
	return false
}

// withDefaults returns a copy with every zero field set to its default.
func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.HeartbeatDelay, DefaultHeartbeatDelay)
	def(&o.DisconnectDelay, DefaultDisconnectDelay)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.PongTimeout, DefaultPongTimeout)
	def(&o.SendTimeout, DefaultSendTimeout)
	if o.ResponseLimit == 0 {
		o.ResponseLimit = DefaultResponseLimit
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxQueuedBytes == 0 {
		o.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if o.MaxInboxBytes == 0 {
		o.MaxInboxBytes = DefaultMaxInboxBytes
	}
	if o.MaxSessions == 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.WebSocketCompressionThreshold == 0 {
		o.WebSocketCompressionThreshold = DefaultWebSocketCompressionThreshold
	}
	o.SockJSURL, o.SockJSIntegrity = o.SockJSScript()
	if o.Registry == nil {
		o.Registry = session.NewMemory()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
