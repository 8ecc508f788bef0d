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

	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// Default destination prefixes (see Config).
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

	// OnError receives application errors (see AppError): an /app
	// handler's error or panic, an /app destination nobody handles, a bus
	// or relay failure. The connection goes on and the frame gets no
	// RECEIPT. Nil means: log what is not a refusal, and send the client a
	// MESSAGE on its own {UserPrefix}queue/errors subscriptions (subscribe
	// to /user/queue/errors to read them) with the error's Text as body
	// and message header, as Spring's @MessageExceptionHandler with
	// @SendToUser("/queue/errors", broadcast = false) does.
	OnError ErrorHandler
	// OnEvent is told of session events (see Event), on the goroutine
	// where they happen: keep it short. Nil means none.
	OnEvent func(Event)

	// AppPrefixes are the application destinations: SENDs to them go to
	// Handle's handlers, SUBSCRIBEs to HandleSubscribe's. Nil means
	// {"/app/"}. Each starts and ends with "/".
	AppPrefixes []string
	// TopicPrefixes are the broadcast destinations: every subscriber gets
	// every message. Nil means {"/topic/"}.
	TopicPrefixes []string
	// QueuePrefixes are the point-to-point destinations: each message goes
	// to one subscriber (Spring's simple broker broadcasts /queue like
	// /topic; RabbitMQ, and this broker, do not). Nil means {"/queue/"}.
	QueuePrefixes []string
	// UserPrefix marks user destinations: SUBSCRIBE {UserPrefix}queue/x,
	// SEND {UserPrefix}{name}/queue/x. Empty means "/user/".
	UserPrefix string

	// PatternSubscriptions allows "*" and "**" in topic SUBSCRIBEs
	// (/topic/chat.*, /topic/rooms/**; a "." in the pattern separates
	// segments too), as Spring's simple broker does. It carries every
	// topic message on one bus channel, so every node receives every
	// topic message and matches it against its subscriptions: fine for
	// moderate traffic, costly for many busy topics. False (the default)
	// refuses such SUBSCRIBEs.
	PatternSubscriptions bool

	// QueueStore, when set, holds the queues, shared by every node using
	// the same store (stomp/redisqueue: Redis Streams): each message goes
	// to one consumer on any node, and is redelivered when its consumer
	// or node goes without acknowledging it. MaxQueueBacklog and
	// MaxQueuedBytes do not apply (the store's memory policy does). Nil
	// means queues in this node's memory. The Server does not close it.
	QueueStore QueueStore

	// History keeps the recent messages of chosen topics: a SUBSCRIBE
	// with x-stream-offset (first, last, next or offset=N) replays them,
	// and every MESSAGE of such a topic carries its x-stream-offset and
	// x-stream-epoch, as RabbitMQ's streams do (see HistoryConfig). The
	// zero value keeps none. It does not go with PatternSubscriptions.
	History HistoryConfig
	// Presence tells who is subscribed to which topic, across nodes (see
	// PresenceConfig). The zero value is off.
	Presence PresenceConfig

	// Relay, when set, carries the topic and queue destinations (and user
	// destinations, resolved as Spring does) to an external STOMP broker
	// instead of the built-in one; application destinations stay here.
	// The Server does not close it.
	Relay BrokerRelay

	// ClusterUsers makes the user registry cluster-wide: each node
	// broadcasts its users on the bus (on changes and every
	// UserRegistryInterval), so that Users lists every node's, and a
	// relay resolves user destinations to sessions on any node. Without
	// it, Users lists this node's. User destinations of the built-in
	// broker reach every node either way.
	ClusterUsers bool
	// UserRegistryInterval is how often a node broadcasts its users; one
	// not heard from for three intervals is forgotten. Zero means 10 s.
	UserRegistryInterval time.Duration
	// NodeID names this node in Users. Empty means a random id.
	NodeID string

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
	idStart string // session ids are idStart + a counter: unique across nodes and restarts
	closeMu sync.Mutex
	closed  bool

	users    *userRegistry
	presence *presenceState // nil: Config.Presence is off

	mu        sync.RWMutex
	routes    []*route // SEND handlers
	subRoutes []*route // SUBSCRIBE handlers
}

func prefixes(p []string, def string) []string {
	if len(p) == 0 {
		return []string{def}
	}
	return slices.Clone(p)
}

func hasPrefix(dest string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(dest, p) && len(dest) > len(p) {
			return true
		}
	}
	return false
}

// destKind is how the server routes a destination.
type destKind int

const (
	kindNone destKind = iota
	kindTopic
	kindQueue
	kindUser
	kindApp
)

func (s *Server) kind(dest string) destKind {
	switch {
	case hasPrefix(dest, s.cfg.AppPrefixes):
		return kindApp
	case hasPrefix(dest, s.cfg.TopicPrefixes):
		return kindTopic
	case hasPrefix(dest, s.cfg.QueuePrefixes):
		return kindQueue
	case strings.HasPrefix(dest, s.cfg.UserPrefix) && len(dest) > len(s.cfg.UserPrefix):
		return kindUser
	}
	return kindNone
}

// splitUser splits a SEND's {UserPrefix}{name}/{rest}.
func (s *Server) splitUser(dest string) (name, rest string, ok bool) {
	name, rest, ok = strings.Cut(dest[len(s.cfg.UserPrefix):], "/")
	return name, rest, ok && name != "" && rest != ""
}

type route struct {
	p *pattern
	h AppHandler
}

// AppHandler handles a SEND to an application destination. It runs on the
// sending connection's reading goroutine, so frames of one connection are
// handled in order, and a slow handler holds up only its own connection.
// An error (or a panic) is an AppError: the connection goes on, the frame
// gets no RECEIPT and Config.OnError is told; wrap ErrRefused to show its
// text to the client, otherwise the client reads "request failed".
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
	if cfg.UserRegistryInterval <= 0 {
		cfg.UserRegistryInterval = 10 * time.Second
	}
	if cfg.NodeID == "" {
		cfg.NodeID = randomNodeID()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "sockline"
	}
	cfg.AppPrefixes = prefixes(cfg.AppPrefixes, AppPrefix)
	cfg.TopicPrefixes = prefixes(cfg.TopicPrefixes, TopicPrefix)
	cfg.QueuePrefixes = prefixes(cfg.QueuePrefixes, QueuePrefix)
	if cfg.UserPrefix == "" {
		cfg.UserPrefix = UserPrefix
	}
	for _, p := range append(append(append([]string{cfg.UserPrefix}, cfg.AppPrefixes...), cfg.TopicPrefixes...), cfg.QueuePrefixes...) {
		if len(p) < 3 || p[0] != '/' || p[len(p)-1] != '/' {
			panic(fmt.Sprintf("stomp: destination prefix %q must start and end with / and name something", p))
		}
	}
	s := &Server{cfg: cfg, idStart: randomNodeID()[:8] + "-"}
	if s.cfg.OnError == nil {
		s.cfg.OnError = s.defaultOnError
	}
	if cfg.Bus == nil {
		s.ownBus = pubsub.NewMemory(0)
		s.cfg.Bus = s.ownBus
	}
	s.broker = newBroker(s.cfg.Bus, func(key string) bool { return hasPrefix(key, s.cfg.QueuePrefixes) }, s.cfg.MaxUnacked, s.cfg.MaxQueueBacklog, s.cfg.MaxQueuedBytes)
	s.broker.store = cfg.QueueStore
	s.broker.isTopic = func(key string) bool { return hasPrefix(key, s.cfg.TopicPrefixes) }
	s.broker.allTopics = cfg.PatternSubscriptions
	s.broker.logErr = s.cfg.Logger.Error
	if len(cfg.History.Rules) > 0 && cfg.Relay == nil {
		if cfg.PatternSubscriptions {
			panic(errHistoryPatterns.Error())
		}
		s.broker.hist, s.broker.histRules = cfg.History.Store, slices.Clone(cfg.History.Rules)
		if s.broker.hist == nil {
			s.broker.hist = history.NewMemory(s.cfg.Bus)
		}
	}
	s.users = newUserRegistry(s)
	if cfg.Presence.Enabled && cfg.Relay == nil {
		s.presence = newPresence(s, cfg.Presence)
	}
	return s
}

// Handle routes SENDs whose destination matches pattern to h, as Spring's
// @MessageMapping does. pattern starts with an application prefix
// ("/app/"); a segment "{name}" captures one segment (AppMessage.Vars),
// "*" matches any one segment and a final "**" the rest. Segments are
// separated by "/", and by "." too when the pattern has a dot
// ("/app/chat.{room}"). When several patterns match, the one with more
// literal segments wins. It panics on an invalid pattern: a programming
// error.
func (s *Server) Handle(pattern string, h AppHandler) {
	s.addRoute(&s.routes, pattern, h)
}

// HandleSubscribe answers SUBSCRIBEs whose destination matches pattern
// with h, as Spring's @SubscribeMapping does: h runs once per SUBSCRIBE,
// and what it sends with AppMessage.Reply to m.Destination reaches that
// subscription alone (initial data, typically). Nothing is subscribed at
// the broker. Patterns are as for Handle.
func (s *Server) HandleSubscribe(pattern string, h AppHandler) {
	s.addRoute(&s.subRoutes, pattern, h)
}

func (s *Server) addRoute(routes *[]*route, pattern string, h AppHandler) {
	p, err := parsePattern(pattern, s.cfg.AppPrefixes)
	if err != nil {
		panic(err)
	}
	if h == nil {
		panic("stomp: nil AppHandler for " + pattern)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	*routes = append(*routes, &route{p, h})
	slices.SortStableFunc(*routes, func(a, b *route) int {
		al, at := a.p.specificity()
		bl, bt := b.p.specificity()
		if al != bl {
			return bl - al
		}
		return bt - at
	})
}

// lookup finds the handler for an /app destination.
func (s *Server) lookup(dest string, subscribe bool) (AppHandler, map[string]string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	routes := s.routes
	if subscribe {
		routes = s.subRoutes
	}
	for _, r := range routes {
		if vars, ok := r.p.match(dest); ok {
			return r.h, vars, true
		}
	}
	return nil, nil, false
}

// ErrDestination: a destination the server does not route.
var ErrDestination = errors.New("stomp: unknown destination (want /topic/..., /queue/..., /user/... or /app/...)")

// Publish sends a message from the server itself: to every subscriber of a
// topic destination, to one consumer of a queue, or to every session of a
// user with {UserPrefix}{name}/...; with Config.Relay, through the relay.
// header holds the message's own headers (content-type, custom ones); the
// server adds destination, message-id, subscription and content-length.
func (s *Server) Publish(ctx context.Context, destination string, header Header, body []byte) error {
	switch s.kind(destination) {
	case kindTopic, kindQueue:
	case kindUser:
		if _, _, ok := s.splitUser(destination); !ok {
			return fmt.Errorf("%w: %q", ErrDestination, destination)
		}
		if s.cfg.Relay != nil {
			return s.relayToUser(ctx, destination, header, body)
		}
	default:
		return fmt.Errorf("%w: %q", ErrDestination, destination)
	}
	if s.cfg.Relay != nil {
		return s.cfg.Relay.Publish(ctx, destination, header, body)
	}
	return s.broker.send(ctx, destination, newMessage(header, body))
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
	s.users.close()
	if s.presence != nil {
		s.presence.close()
	}
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
	// Session is the sender's session id.
	Session string
	// Subscription is the subscription id, for a HandleSubscribe handler.
	Subscription string

	c   *conn
	sub *subscription // the subscription being made, for HandleSubscribe
}

// Reply sends a message to the sender's own subscriptions of destination,
// typically a "/user/queue/..." one: only this connection gets it, not the
// user's other sessions. In a HandleSubscribe handler, a Reply to
// m.Destination reaches the subscription being made alone. header is as
// for Server.Publish.
func (m *AppMessage) Reply(destination string, header Header, body []byte) error {
	return m.c.reply(destination, newMessage(header, body), m.sub)
}

// Disconnect closes the sender's connection, without an ERROR frame, as a
// network that drops it would: the client sees its connection close (and
// stompjs reconnects when it has a reconnectDelay). The rest of the
// handler runs on.
func (m *AppMessage) Disconnect() { m.c.end(CloseNormal, "disconnected by the application") }

// Publish is Server.Publish on the server that received the message.
func (m *AppMessage) Publish(ctx context.Context, destination string, header Header, body []byte) error {
	return m.c.srv.Publish(ctx, destination, header, body)
}
