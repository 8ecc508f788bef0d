package stomp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// Destination prefixes the server routes.
const (
	TopicPrefix = "/topic/"
	QueuePrefix = "/queue/"
	UserPrefix  = "/user/"
	AppPrefix   = "/app/"
)

// Defaults of zero Config fields.
const (
	DefaultHeartbeatSend   = 10 * time.Second
	DefaultConnectTimeout  = 30 * time.Second
	DefaultMaxUnacked      = 1000
	DefaultMaxQueueBacklog = 10000
	DefaultMaxQueuedBytes  = 64 << 20
)

// Config configures a Server. The zero value works: an in-memory bus,
// anonymous connections, every destination allowed.
type Config struct {
	// Bus carries /topic and user destinations between nodes. Nil means an
	// in-memory bus owned (and closed) by the Server.
	Bus pubsub.Bus
	// Authenticate turns a CONNECT into a Principal; an error refuses the
	// connection with an ERROR frame. Nil accepts everyone as anonymous
	// (empty Name).
	Authenticate Authenticator
	// Authorize is asked before every SUBSCRIBE and every SEND (the
	// destination as the client wrote it); an error refuses it with an
	// ERROR frame, and the connection ends. Nil allows everything.
	Authorize Authorizer

	// HeartbeatSend is how often the server offers to send heart-beats
	// (the first number of CONNECTED's heart-beat header). When the client
	// asks for them, the server sends an EOL at the larger of this and the
	// client's wish. Over SockJS the transport's own heartbeats keep the
	// connection up, but a STOMP client that asked for heart-beats closes
	// a connection that sends none. Zero means 10 s; negative: none.
	HeartbeatSend time.Duration
	// HeartbeatReceive is how often the server wants the client's
	// heart-beats (CONNECTED's second number). When negotiated, a client
	// silent for three times the interval is disconnected. Zero (the
	// default) asks for none: SockJS already detects dead clients, and
	// browsers throttle timers in background tabs.
	HeartbeatReceive time.Duration
	// ConnectTimeout bounds the wait for the CONNECT frame. Zero means 30 s.
	ConnectTimeout time.Duration

	// MaxFrameBytes and MaxHeaders bound incoming frames (see Decoder).
	// Zero means 1 MiB and 64.
	MaxFrameBytes, MaxHeaders int
	// MaxUnacked bounds the messages of one subscription delivered in a
	// client ack mode and not acknowledged yet. A queue stops handing
	// messages to a subscription at the bound; a topic subscription past it
	// is a slow consumer and its connection is closed with an ERROR. Zero
	// means 1000.
	MaxUnacked int
	// MaxQueueBacklog bounds the messages a /queue holds for lack of a
	// consumer; a SEND to a full queue is refused with an ERROR. Zero means
	// 10000.
	MaxQueueBacklog int
	// MaxQueuedBytes bounds the bytes waiting in all queues together; past
	// it SENDs to queues are refused in the same way. Zero means 64 MiB.
	MaxQueuedBytes int

	// Logger receives what has no client to tell: application handler
	// errors and panics. Nil means slog.Default().
	Logger *slog.Logger
	// ServerName goes into CONNECTED's server header. Empty means
	// "sockline".
	ServerName string
}

// Server is a STOMP server and its broker. Create it with NewServer,
// register application destinations with Handle, then serve connections
// with ServeSession (a sockjs.HandlerFunc) or WebSocketHandler. It is safe
// for concurrent use.
type Server struct {
	cfg     Config
	ownBus  *pubsub.Memory // set when the Server made the bus
	broker  *broker
	nextID  atomic.Uint64
	closeMu sync.Mutex
	closed  bool

	mu     sync.RWMutex
	routes []*route
}

type route struct {
	p *pattern
	h AppHandler
}

// AppHandler handles a SEND to an application destination. It runs on the
// sending connection's reading goroutine, so frames of one connection are
// handled in order, and a slow handler holds up only its own connection.
// An error ends the connection with an ERROR frame; wrap ErrRefused to show
// its text to the client, otherwise the client reads "request failed".
type AppHandler func(ctx context.Context, m *AppMessage) error

// NewServer returns a Server for cfg.
func NewServer(cfg Config) *Server {
	if cfg.HeartbeatSend == 0 {
		cfg.HeartbeatSend = DefaultHeartbeatSend
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.MaxUnacked <= 0 {
		cfg.MaxUnacked = DefaultMaxUnacked
	}
	if cfg.MaxQueueBacklog <= 0 {
		cfg.MaxQueueBacklog = DefaultMaxQueueBacklog
	}
	if cfg.MaxQueuedBytes <= 0 {
		cfg.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "sockline"
	}
	s := &Server{cfg: cfg}
	if cfg.Bus == nil {
		s.ownBus = pubsub.NewMemory(0)
		s.cfg.Bus = s.ownBus
	}
	s.broker = newBroker(s.cfg.Bus, s.cfg.MaxUnacked, s.cfg.MaxQueueBacklog, s.cfg.MaxQueuedBytes)
	return s
}

// Handle routes SENDs whose destination matches pattern to h, as Spring's
// @MessageMapping does. pattern starts with "/app/"; a segment "{name}"
// captures one segment (AppMessage.Vars), "*" matches any one segment and a
// final "**" the rest. When several patterns match, the one with more
// literal segments wins. It panics on an invalid pattern: a programming
// error.
func (s *Server) Handle(pattern string, h AppHandler) {
	p, err := parsePattern(pattern)
	if err != nil {
		panic(err)
	}
	if h == nil {
		panic("stomp: nil AppHandler for " + pattern)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes = append(s.routes, &route{p, h})
	slices.SortStableFunc(s.routes, func(a, b *route) int {
		al, at := a.p.specificity()
		bl, bt := b.p.specificity()
		if al != bl {
			return bl - al
		}
		return bt - at
	})
}

// lookup finds the handler for an /app destination.
func (s *Server) lookup(dest string) (AppHandler, map[string]string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.routes {
		if vars, ok := r.p.match(dest); ok {
			return r.h, vars, true
		}
	}
	return nil, nil, false
}

// ErrDestination: a destination the server does not route.
var ErrDestination = errors.New("stomp: unknown destination (want /topic/..., /queue/..., /user/... or /app/...)")

// Publish sends a message from the server itself: to every subscriber of a
// /topic/... destination, to one consumer of a /queue/..., or to every
// session of a user with /user/{name}/.... header holds the message's own
// headers (content-type, custom ones); the server adds destination,
// message-id, subscription and content-length.
func (s *Server) Publish(ctx context.Context, destination string, header Header, body []byte) error {
	key, err := publicKey(destination)
	if err != nil {
		return err
	}
	return s.broker.send(ctx, key, newMessage(header, body))
}

// publicKey maps a SEND destination to a broker key: a topic, a queue, or a
// named user's destination.
func publicKey(dest string) (string, error) {
	switch {
	case strings.HasPrefix(dest, TopicPrefix) && len(dest) > len(TopicPrefix),
		strings.HasPrefix(dest, QueuePrefix) && len(dest) > len(QueuePrefix):
		return dest, nil
	case strings.HasPrefix(dest, UserPrefix):
		rest := dest[len(UserPrefix):]
		name, sub, ok := strings.Cut(rest, "/")
		if ok && name != "" && len(sub) > 0 {
			return dest, nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrDestination, dest)
}

// Close closes the bus if the Server made it, and waits for its delivery
// goroutine to end. Connections end with their sessions: shut the
// sockjs.Handler (or http.Server) down first.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.ownBus != nil {
		err := s.ownBus.Close()
		<-s.ownBus.Done()
		return err
	}
	return nil
}

// ServeSession runs the STOMP protocol on a SockJS session until it ends; it
// is a sockjs.HandlerFunc:
//
//	h := sockjs.NewHandler(sockjs.Options{}, srv.ServeSession)
func (s *Server) ServeSession(ctx context.Context, sess *sockjs.Session) {
	s.serve(ctx, sess, &ConnectRequest{
		Request:    sess.Request(),
		Header:     sess.Header(),
		RemoteAddr: sess.RemoteAddr(),
		Transport:  sess.Transport(),
	})
}

// AppMessage is a SEND to an application destination, as its AppHandler
// sees it.
type AppMessage struct {
	// Destination is the SEND's destination.
	Destination string
	// Vars holds the pattern's {name} captures.
	Vars map[string]string
	// Header is the SEND frame's header.
	Header Header
	// Body is the SEND frame's body.
	Body []byte
	// Principal is the sender.
	Principal Principal

	c *conn
}

// Reply sends a message to the sender's own subscriptions of destination,
// typically a "/user/queue/..." one: only this connection gets it, not the
// user's other sessions. header is as for Server.Publish.
func (m *AppMessage) Reply(destination string, header Header, body []byte) error {
	return m.c.reply(destination, newMessage(header, body))
}

// Publish is Server.Publish on the server that received the message.
func (m *AppMessage) Publish(ctx context.Context, destination string, header Header, body []byte) error {
	return m.c.srv.Publish(ctx, destination, header, body)
}
