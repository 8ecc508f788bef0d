package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/sockjs"
	"github.com/sockline/sockline/stomp"
)

// names are what user and room names may be: they become destination
// segments.
var names = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// maxText bounds one chat message.
const maxText = 2000

// chat is the server: the page, the SockJS endpoint and the STOMP broker.
type chat struct {
	router http.Handler
	srv    *stomp.Server
	h      *sockjs.Handler
}

// newChat wires everything; stompjsFile is the bundle to serve ("" to let
// the page use the CDN).
func newChat(opts sockjs.Options, stompjsFile string) *chat {
	cfg := stomp.Config{Authenticate: authenticate, Authorize: authorize,
		// rooms keep their last 1000 messages (10 minutes), so that a page
		// that reconnects catches up; pages show who is in their room
		History:  stomp.HistoryConfig{Rules: []history.Rule{{Pattern: "/topic/rooms/*", Bounds: history.Bounds{Size: 1000, TTL: 10 * time.Minute}}}},
		Presence: stomp.PresenceConfig{Enabled: true},
	}
	if opts.Cluster != nil { // one node of a cluster: topics, history and presence shared
		cfg.Bus = opts.Cluster.Bus
		if b, ok := opts.Cluster.Bus.(*redis.Bus); ok {
			cfg.History.Store, cfg.Presence.Store = b.History(), b.Presence()
		} else { // no shared store on this engine: neither
			cfg.History, cfg.Presence = stomp.HistoryConfig{}, stomp.PresenceConfig{}
		}
	}
	srv := stomp.NewServer(cfg)
	srv.Handle("/app/rooms/{room}", say)
	srv.Handle("/app/private/{user}", whisper)
	c := &chat{srv: srv, h: sockjs.NewHandler(opts, srv.ServeSession)}

	// The page loads the sockjs-client build the iframe page loads, and
	// the CDN's scripts with their integrity hashes.
	var data pageData
	data.SockJS, data.SockJSIntegrity = opts.SockJSScript()
	data.StompJS, data.StompJSIntegrity = stompjsCDN, stompjsCDNIntegrity
	r := chi.NewRouter()
	if stompjsFile != "" {
		data.StompJS, data.StompJSIntegrity = "/stomp.umd.min.js", ""
		r.Get(data.StompJS, func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
			http.ServeFile(w, req, stompjsFile)
		})
	}
	r.Mount("/stomp", c.h)
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, data)
	})
	c.router = r
	return c
}

// shutdown closes every session, then the broker.
func (c *chat) shutdown(ctx context.Context) error {
	return errors.Join(c.h.Shutdown(ctx), c.srv.Close())
}

// authenticate takes the login header as the user name (no password: a
// demonstration).
func authenticate(_ context.Context, r *stomp.ConnectRequest) (stomp.Principal, error) {
	if !names.MatchString(r.Login) {
		return stomp.Principal{}, fmt.Errorf("%w: pick a name of 1 to 32 letters, digits, - or _", stomp.ErrRefused)
	}
	return stomp.Principal{Name: r.Login}, nil
}

// authorize lets pages subscribe to rooms and their own private queue, and
// send only through the application destinations.
func authorize(_ context.Context, _ stomp.Principal, op stomp.Op, dest string) error {
	switch {
	case op == stomp.OpSend && strings.HasPrefix(dest, "/app/"):
		return nil
	case op == stomp.OpSubscribe && (dest == "/user/queue/private" || dest == "/user/queue/errors"):
		return nil
	case op == stomp.OpSubscribe && strings.HasPrefix(dest, "/topic/rooms/") && names.MatchString(dest[len("/topic/rooms/"):]):
		return nil
	case op == stomp.OpSubscribe && strings.HasPrefix(dest, "/topic/presence.rooms/") && names.MatchString(dest[len("/topic/presence.rooms/"):]):
		return nil // a room's joins and leaves
	case op == stomp.OpSubscribe && strings.HasPrefix(dest, "/app/presence/rooms/") && names.MatchString(dest[len("/app/presence/rooms/"):]):
		return nil // a room's members
	}
	return fmt.Errorf("%w: %s to %s is not allowed", stomp.ErrRefused, op, dest)
}

// text checks a message body.
func text(m *stomp.AppMessage) (string, error) {
	t := strings.TrimSpace(string(m.Body))
	if t == "" || len(t) > maxText || !utf8.ValidString(t) {
		return "", fmt.Errorf("%w: messages are 1 to %d bytes of text", stomp.ErrRefused, maxText)
	}
	return t, nil
}

// say publishes a message to a room.
func say(ctx context.Context, m *stomp.AppMessage) error {
	room := m.Vars["room"]
	t, err := text(m)
	if err != nil {
		return err
	}
	if !names.MatchString(room) {
		return fmt.Errorf("%w: bad room name", stomp.ErrRefused)
	}
	h := stomp.Header{{Key: "content-type", Value: "text/plain;charset=utf-8"}, {Key: "x-from", Value: m.Principal.Name}, {Key: "x-room", Value: room}}
	return m.Publish(ctx, "/topic/rooms/"+room, h, []byte(t))
}

// whisper sends a private message to every session of the addressee and
// of the sender (so that the sender's other tabs show it too).
func whisper(ctx context.Context, m *stomp.AppMessage) error {
	to := m.Vars["user"]
	t, err := text(m)
	if err != nil {
		return err
	}
	if !names.MatchString(to) {
		return fmt.Errorf("%w: bad user name", stomp.ErrRefused)
	}
	h := stomp.Header{{Key: "content-type", Value: "text/plain;charset=utf-8"}, {Key: "x-from", Value: m.Principal.Name}, {Key: "x-to", Value: to}}
	if err := m.Publish(ctx, "/user/"+to+"/queue/private", h, []byte(t)); err != nil {
		return err
	}
	if to == m.Principal.Name {
		return nil
	}
	return m.Publish(ctx, "/user/"+m.Principal.Name+"/queue/private", h, []byte(t))
}
