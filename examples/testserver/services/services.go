// Package services builds the SockJS test services of examples/testserver,
// so that tests can serve them from an httptest.Server.
package services

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/examples/internal/run"
	"github.com/sockline/sockline/sockjs"
	"github.com/sockline/sockline/stomp"
)

// Config tunes the services for tests.
type Config struct {
	// SockJSURL is the sockjs-client URL for the iframe page.
	SockJSURL string
	// DisconnectDelay and HeartbeatDelay override the defaults when set.
	DisconnectDelay, HeartbeatDelay time.Duration
	// Cluster, when set, makes every service a cluster service (each under
	// its prefix as Cluster.Service).
	Cluster *sockjs.Cluster
	// DirectHost, with Cluster, gives every service a direct listener for
	// the other nodes on this host, on a free port (run.DirectListener).
	DirectHost string
	// MaxSessions bounds the sessions of each service (sockjs.Options);
	// zero means the default.
	MaxSessions int
	// StompRelay, when set, carries /stomp's broker destinations to an
	// external STOMP broker (testserver's -stomp-relay).
	StompRelay stomp.BrokerRelay
	// StompQueueStore, when set (redisqueue.New on the cluster's Redis),
	// shares /stomp's queues between the nodes.
	StompQueueStore stomp.QueueStore
}

// New returns a router with every service mounted, and a function that
// shuts them all down.
func New(c Config) (*chi.Mux, func(context.Context) error) {
	base := sockjs.Options{
		AllowAnyOrigin:  true, // a test fixture: pages of any origin may connect
		SockJSURL:       c.SockJSURL,
		RawWebSocket:    true, // {prefix}/websocket, as the protocol suite expects
		DisconnectDelay: c.DisconnectDelay,
		HeartbeatDelay:  c.HeartbeatDelay,
		MaxSessions:     c.MaxSessions,
	}
	r := chi.NewRouter()
	var handlers []*sockjs.Handler
	mount := func(prefix string, o sockjs.Options, app sockjs.HandlerFunc) *sockjs.Handler {
		if c.Cluster != nil {
			cl := *c.Cluster
			cl.Service = prefix
			ln, err := run.DirectListener(c.DirectHost)
			if err != nil {
				panic(err) // start-up: the address cannot be listened on
			}
			cl.DirectListener = ln
			o.Cluster = &cl
		}
		h := sockjs.NewHandler(o, app)
		r.Mount(prefix, h)
		handlers = append(handlers, h)
		return h
	}

	echoOpts := base
	echoOpts.ResponseLimit = 4096
	mount("/echo", echoOpts, Echo)
	mount("/close", base, func(ctx context.Context, s *sockjs.Session) {
		s.Close(3000, "Go away!")
	})
	noWS := base
	noWS.DisableWebSocket = true
	mount("/disabled_websocket_echo", noWS, Echo)
	cookies := base
	cookies.JSessionID = true
	mount("/cookie_needed_echo", cookies, Echo)

	var broadcast *sockjs.Handler
	broadcast = mount("/broadcast", base, func(ctx context.Context, s *sockjs.Session) {
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				return
			}
			broadcast.Broadcast(msg)
		}
	})
	mount("/amplify", base, Amplify)
	compressed := base
	compressed.WebSocketCompression = true // permessage-deflate, frames of 512 bytes and more
	mount("/compressed_echo", compressed, Echo)
	stompCfg := StompConfig{Relay: c.StompRelay, QueueStore: c.StompQueueStore}
	if c.Cluster != nil {
		stompCfg.Bus = c.Cluster.Bus
		if b, ok := c.Cluster.Bus.(*redis.Bus); ok { // with -redis: history and presence in Redis
			stompCfg.History, stompCfg.Presence = b.History(), b.Presence()
		}
	}
	stompServer := StompWith(stompCfg)
	mount("/stomp", base, stompServer.ServeSession)
	mount("/ticker", base, func(ctx context.Context, s *sockjs.Session) {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s.Send("tick!") != nil {
					return
				}
			}
		}
	})
	shutdown := func(ctx context.Context) error {
		var errs []error
		for _, h := range handlers {
			errs = append(errs, h.Shutdown(ctx))
		}
		// After the handlers: its sessions are gone, so its bus may stop.
		errs = append(errs, stompServer.Close())
		return errors.Join(errs...)
	}
	return r, shutdown
}

// Echo sends every message back.
func Echo(ctx context.Context, s *sockjs.Session) {
	for {
		msg, err := s.Recv(ctx)
		if err != nil {
			return
		}
		if s.Send(msg) != nil {
			return
		}
	}
}

// Amplify answers a message n with "x" repeated 2^n, n clamped to 1..19.
func Amplify(ctx context.Context, s *sockjs.Session) {
	for {
		msg, err := s.Recv(ctx)
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(msg))
		if err != nil || n < 1 {
			n = 1
		}
		n = min(n, 19)
		if s.Send(strings.Repeat("x", 1<<n)) != nil {
			return
		}
	}
}
