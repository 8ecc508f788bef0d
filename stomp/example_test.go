package stomp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/sockjs"
	"github.com/sockline/sockline/stomp"
)

// A STOMP endpoint for @stomp/stompjs over sockjs-client at /stomp, with
// authentication from a cookie-backed session, per-destination
// authorization and two application destinations.
func Example() {
	srv := stomp.NewServer(stomp.Config{
		Authenticate: func(ctx context.Context, r *stomp.ConnectRequest) (stomp.Principal, error) {
			// Look the user up from the request that opened the session
			// (a cookie here), or from CONNECT's login/passcode or a token
			// header in r.Frame.
			c, err := (&http.Request{Header: r.Header}).Cookie("user")
			if err != nil {
				return stomp.Principal{}, fmt.Errorf("%w: log in first", stomp.ErrRefused)
			}
			return stomp.Principal{Name: c.Value}, nil
		},
		Authorize: func(ctx context.Context, p stomp.Principal, op stomp.Op, dest string) error {
			if op == stomp.OpSend && strings.HasPrefix(dest, "/topic/") {
				return fmt.Errorf("%w: publish through /app/...", stomp.ErrRefused)
			}
			return nil
		},
	})
	// SEND /app/echo: answered on the sender's own /user/queue/echo.
	srv.Handle("/app/echo", func(ctx context.Context, m *stomp.AppMessage) error {
		return m.Reply("/user/queue/echo", stomp.Header{{Key: "content-type", Value: "text/plain"}}, m.Body)
	})
	// SEND /app/rooms/{room}: published to everyone in the room.
	srv.Handle("/app/rooms/{room}", func(ctx context.Context, m *stomp.AppMessage) error {
		h := stomp.Header{{Key: "x-from", Value: m.Principal.Name}}
		return m.Publish(ctx, "/topic/rooms/"+m.Vars["room"], h, m.Body)
	})

	defer srv.Close()

	h := sockjs.NewHandler(sockjs.Options{}, srv.ServeSession)
	defer h.Shutdown(context.Background())
	r := chi.NewRouter()
	r.Mount("/stomp", h)
	if false { // not in the example's run
		log.Fatal(http.ListenAndServe("127.0.0.1:8080", r))
	}
	fmt.Println("ok")
	// Output: ok
}

// A subscribe handler answers SUBSCRIBE /app/profile once with the
// subscriber's initial data, as Spring's @SubscribeMapping; OnError sends
// application errors to the session's /user/queue/errors with a code.
func ExampleServer_HandleSubscribe() {
	srv := stomp.NewServer(stomp.Config{
		Authenticate: stomp.LoginAuthenticator,
		OnError: func(ctx context.Context, e *stomp.AppError) {
			h := stomp.Header{{Key: "x-code", Value: "bad-request"}}
			_ = e.Reply("/user/queue/errors", h, []byte(e.Text()))
		},
		OnEvent: func(e stomp.Event) {
			if e.Type == stomp.EventDisconnect {
				log.Printf("%s left (session %s)", e.Principal.Name, e.Session)
			}
		},
	})
	defer srv.Close()
	srv.HandleSubscribe("/app/profile", func(ctx context.Context, m *stomp.AppMessage) error {
		return m.Reply(m.Destination, nil, []byte(`{"name":"`+m.Principal.Name+`"}`))
	})
	fmt.Println(len(srv.Users()))
	// Output: 0
}

// Topics under /topic/rooms/ keep their last 1000 messages for 10 minutes:
// a stompjs page that reconnects subscribes with x-stream-offset
// "offset=N" (N: one more than the x-stream-offset of the last message it
// showed) and x-stream-epoch, and gets what it missed. Pages subscribing
// with "x-presence: true" are members of the room (read with SUBSCRIBE
// /app/presence/rooms/{room}, followed on /topic/presence.rooms/{room}).
// In a cluster, give Bus the cluster's bus and the stores bus.History() and
// bus.Presence() (package cluster/redis).
func ExampleHistoryConfig() {
	srv := stomp.NewServer(stomp.Config{
		History: stomp.HistoryConfig{Rules: []history.Rule{{
			Pattern: "/topic/rooms/*",
			Bounds:  history.Bounds{Size: 1000, TTL: 10 * time.Minute},
		}}},
		Presence: stomp.PresenceConfig{Enabled: true},
	})
	defer srv.Close()
	// Published messages get their position; so do SENDs of the pages.
	if err := srv.Publish(context.Background(), "/topic/rooms/lobby", nil, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ok")
	// Output: ok
}
