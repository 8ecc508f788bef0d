package sockjs

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sockline/sockline/cors"
	"github.com/sockline/sockline/heartbeat"
	"github.com/sockline/sockline/session"
	"github.com/sockline/sockline/transports"
)

// HandlerFunc is the application's per-session code. It runs in its own
// goroutine once per session, from the session's creation; ctx is the
// session's context (Session.Context): it carries the values of the
// creating request's context, such as the identity an authentication
// middleware stored there, and is cancelled when the session closes, not
// when that request ends. The creating request itself is Session.Request.
// When it returns,
// the session is closed with 3000 "Go away!" if it is still open.
type HandlerFunc func(ctx context.Context, s *Session)

// Handler serves the SockJS endpoints under one prefix. Create it with
// NewHandler; it is an http.Handler safe for concurrent use.
type Handler struct {
	opts     Options
	app      HandlerFunc
	registry session.Registry
	limits   *limiter // MaxSessions, MaxSessionsPerClient
	tcfg     transports.Config
	sched    session.Scheduler
	policy   *cors.Policy
	iframe   *transports.IframePage // rendered once
	stop     func()                 // stops the scheduler

	mu       sync.Mutex
	conns    map[*session.Session]struct{} // websocket sessions, not in the registry
	shutdown bool
	running  activity     // application handlers
	requests activity     // requests serving a session (websockets included)
	cl       *clusterNode // nil on one node
	topics   topicHub
}

// NewHandler returns a Handler that runs app for every new session. It
// panics if opts are invalid (see Options.Validate) or app is nil: both
// are programming errors best found at start-up.
func NewHandler(opts Options, app HandlerFunc) *Handler {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	if app == nil {
		panic(fmt.Errorf("%w: the session handler must not be nil", ErrInvalidOptions))
	}
	o := opts.withDefaults()
	h := &Handler{
		opts:     o,
		app:      app,
		registry: o.Registry,
		limits:   newLimiter(&o),
		conns:    make(map[*session.Session]struct{}),
	}
	h.topics.init(h)
	if o.Cluster != nil {
		cl, err := newClusterNode(h, *o.Cluster)
		if err != nil {
			panic(err)
		}
		h.cl = cl
		h.registry = clusterRegistry{Registry: o.Registry, cl: h.cl}
	}
	wheel := heartbeat.NewWheel(wheelTick(o))
	h.sched, h.stop = wheelScheduler{wheel}, wheel.Close
	policy, err := cors.New(cors.Config{
		AllowedOrigins:        o.AllowedOrigins,
		AllowedOriginPatterns: o.AllowedOriginPatterns,
		AllowAnyOrigin:        o.AllowAnyOrigin,
		AllowNullOrigin:       o.AllowNullOrigin,
		Disabled:              o.DisableCORS,
		Check:                 o.CheckOrigin,
	})
	if err != nil {
		panic(fmt.Errorf("%w: %w", ErrInvalidOptions, err))
	}
	h.policy = policy
	h.iframe = transports.NewIframePage(o.SockJSURL, o.SockJSIntegrity, policy.FrameAncestors())
	h.tcfg = transports.Config{
		ResponseLimit:   o.ResponseLimit,
		WriteTimeout:    o.WriteTimeout,
		MaxMessageBytes: o.MaxMessageBytes,
		HeartbeatDelay:  o.HeartbeatDelay,
		PongTimeout:     o.PongTimeout,
		PingInterval:    pingInterval(o),
	}
	h.tcfg.FrameAncestors = policy.FrameAncestors()
	h.tcfg.OnAnotherConnection = h.anotherConnection
	// A websocket outlives its request (the handler returns after the
	// handshake): Shutdown waits for the connection, not the request.
	h.tcfg.Track = func() func() {
		h.requests.Add(1)
		return h.requests.Done
	}
	h.tcfg.WSOptions = transports.WSOptions{
		Compression:          o.WebSocketCompression,
		CompressionThreshold: o.WebSocketCompressionThreshold,
		ReadBufferSize:       o.WebSocketReadBufferSize,
		WriteBufferSize:      o.WebSocketWriteBufferSize,
		WriteBufferPool:      o.WebSocketWriteBufferPool,
		Subprotocols:         o.WebSocketSubprotocols,
	}
	if h.cl != nil {
		h.cl.start() // last: it serves requests with everything above
	}
	return h
}

// wheelScheduler adapts the handler's timing wheel to session.Scheduler.
type wheelScheduler struct{ w *heartbeat.Wheel }

// AfterFunc implements session.Scheduler.
func (s wheelScheduler) AfterFunc(d time.Duration, f func()) session.Timer {
	return s.w.AfterFunc(d, f)
}

// wheelTick is the scheduler's resolution: a twentieth of the shortest
// delay it serves (250 ms with the defaults), within 1 ms..500 ms. Heartbeats
// and expiries are never early and at most about two ticks late.
func wheelTick(o Options) time.Duration {
	d := o.DisconnectDelay
	if o.HeartbeatDelay > 0 {
		d = min(d, o.HeartbeatDelay)
	}
	if p := pingInterval(o); p > 0 {
		d = min(d, p)
	}
	return min(max(d/20, time.Millisecond), 500*time.Millisecond)
}

// pingInterval is how often websockets are pinged (see
// Options.WebSocketPingInterval), zero for never; o has its defaults.
func pingInterval(o Options) time.Duration {
	switch {
	case o.WebSocketPingInterval > 0:
		return o.WebSocketPingInterval
	case o.WebSocketPingInterval < 0:
		return 0
	case o.HeartbeatDelay > 0:
		return o.HeartbeatDelay
	}
	return DefaultHeartbeatDelay
}

func (h *Handler) sessionConfig(onExpire func(*session.Session)) session.Config {
	return session.Config{
		HeartbeatDelay:  h.opts.HeartbeatDelay,
		DisconnectDelay: h.opts.DisconnectDelay,
		MaxQueuedBytes:  h.opts.MaxQueuedBytes,
		MaxInboxBytes:   h.opts.MaxInboxBytes,
		SendTimeout:     h.opts.SendTimeout,
		PingInterval:    h.tcfg.PingInterval,
		Scheduler:       h.sched,
		OnExpire:        onExpire,
		Hold:            h.sessionHold(),
	}
}

// sessionHold returns session.Config.Hold: in a cluster, sessions wait
// out a store outage (see clusterNode.holdExpiries).
func (h *Handler) sessionHold() func() time.Time {
	if h.cl == nil {
		return nil
	}
	return h.cl.holdUntilTime
}

// Open implements transports.Sessions.
func (h *Handler) Open(id, transport string, r *http.Request) *session.Session {
	base, allowed := h.sessionBase(r)
	var ps *Session
	var forget func(*session.Session)
	s, created := h.registry.LoadOrCreate(id, func() *session.Session {
		forget = h.limits.forgetting(r, h.registry.Delete)
		ps = h.newSession(id, transport, r, base, forget)
		return ps.s
	})
	if created && !h.start(ps, r, allowed) {
		forget(s) // nothing will expire it
	}
	return s
}

// OpenConnection implements transports.Sessions.
func (h *Handler) OpenConnection(id, transport string, r *http.Request) *session.Session {
	base, allowed := h.sessionBase(r)
	forget := h.limits.forgetting(r, func(s *session.Session) {
		h.mu.Lock()
		delete(h.conns, s)
		h.mu.Unlock()
	})
	ps := h.newSession(id, transport, r, base, forget)
	s := ps.s
	h.mu.Lock()
	h.conns[s] = struct{}{}
	h.mu.Unlock()
	if !h.start(ps, r, allowed) {
		forget(s)
	}
	return s
}

// shuttingDown reports whether Shutdown has begun.
func (h *Handler) shuttingDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.shutdown
}

// Lookup implements transports.Sessions.
func (h *Handler) Lookup(id string) (*session.Session, bool) { return h.registry.Load(id) }

// start runs the application for a new session. After Shutdown, or for a
// session that Options.Authorize has not allowed (allowed false: a request
// that found the session existing, so skipped Authorize, but saw it expire
// before it could use it), it runs nothing, closes the session at once (no
// timer will expire it) and returns false. The client gets the close frame
// and no open frame: in both cases it may have had its "o" from a session
// under this id that the handler forgot between the request's look-up and
// now (expired, or forgotten by Shutdown), and a second "o" would tell it
// its session started again.
func (h *Handler) start(ps *Session, r *http.Request, allowed bool) bool {
	s := ps.s
	if !allowed {
		s.ExpireUnopened(errNotAuthorized)
		return false
	}
	h.mu.Lock()
	down := h.shutdown
	if !down {
		h.running.Add(1)
	}
	h.mu.Unlock()
	if down {
		s.ExpireUnopened(shutdownClose())
		return false
	}
	h.sessionStarted(ps, r)
	go func() {
		defer h.running.Done()
		defer s.Close(3000, "Go away!")
		defer h.topics.drop(ps)
		defer func() {
			if v := recover(); v != nil {
				h.opts.Logger.Error("sockjs: session handler panicked", "session", s.ID(), "panic", v, "stack", string(debug.Stack()))
				s.Close(1011, "Internal server error")
			}
		}()
		h.app(s.Context(), ps)
	}()
	return true
}

// forEach calls f for every session, registered or websocket, until f
// returns false. f runs without the handler's locks.
func (h *Handler) forEach(f func(*session.Session) bool) {
	stopped := false
	h.registry.Range(func(s *session.Session) bool {
		stopped = !f(s)
		return !stopped
	})
	if stopped {
		return
	}
	h.mu.Lock()
	conns := make([]*session.Session, 0, len(h.conns))
	for s := range h.conns {
		conns = append(conns, s)
	}
	h.mu.Unlock()
	for _, s := range conns {
		if !f(s) {
			return
		}
	}
}

// Range calls f for every open session of the handler, in no particular
// order, until f returns false. Sessions that open or close meanwhile may
// or may not be seen; closed sessions that are still remembered (for the
// disconnect delay, see Len) are skipped. f runs without the handler's
// locks held, so it may call any Session method, Send and Close included.
func (h *Handler) Range(f func(*Session) bool) {
	h.forEach(func(s *session.Session) bool {
		ps := publicSession(s)
		if ps == nil || s.Err() != nil {
			return true
		}
		return f(ps)
	})
}

// Broadcast sends msg to every open session of this handler, encoding it
// once per node. Sessions that are closed or too far behind are skipped. In
// a cluster it reaches the sessions of every node through the bus; if the
// bus refuses it, only this node's sessions get it, and the error is logged.
func (h *Handler) Broadcast(msg string) {
	if h.cl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), h.cl.cfg.ForwardTimeout)
		err := h.cl.cfg.Bus.Publish(ctx, h.cl.broadcastTopic(), []byte(msg))
		cancel()
		if err == nil {
			return // this node gets it back from the bus, like the others
		}
		h.opts.Logger.Error("sockline cluster: broadcast reached this node only", "err", err)
	}
	h.broadcastLocal(NewMessage(msg))
}

// broadcastLocal sends m to every open session of this node.
func (h *Handler) broadcastLocal(m Message) {
	h.forEach(func(s *session.Session) bool {
		if ps := publicSession(s); ps != nil {
			_ = ps.SendMessage(m)
		} else {
			_ = s.SendQuoted(m.quoted)
		}
		return true
	})
}

// Len returns the number of sessions the handler holds: open ones and
// closed ones still remembered for the disconnect delay (so that their
// clients get the close frame again). Range sees the open ones only.
func (h *Handler) Len() int {
	h.mu.Lock()
	n := len(h.conns)
	h.mu.Unlock()
	return n + h.registry.Len()
}

// Ready reports whether the handler takes new sessions: false once
// Shutdown has begun and, with a Cluster, until the node has first
// registered in the Store and subscribed on the Bus (until then a request
// that needs the store waits for it up to Cluster.ForwardTimeout, then
// gets 503). Serve it as a load balancer's readiness probe, so that a node
// starting on a slow store, or leaving, is sent no new clients.
func (h *Handler) Ready() bool {
	if h.shuttingDown() {
		return false
	}
	if h.cl == nil {
		return true
	}
	select {
	case <-h.cl.ready:
		return true
	default:
		return false
	}
}
