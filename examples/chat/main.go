// Command chat is a small multi-user chat: every message goes to every
// connected user, with join and leave notices and the transport each user's
// browser chose.
//
//	go run ./examples/chat -addr 127.0.0.1:8082 [-allow-origin ORIGIN]... [-sockjs-url URL]
//
// The page is served at / and SockJS at /chat. Page options in the query
// string: ?name=Ann picks the user name, ?transport=xhr-polling forces a
// sockjs-client transport.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/sockjs"
)

type origins []string

func (o *origins) String() string     { return strings.Join(*o, ",") }
func (o *origins) Set(v string) error { *o = append(*o, v); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "address to listen on")
	sockjsURL := flag.String("sockjs-url", sockjs.DefaultSockJSURL, "sockjs-client URL the pages load")
	var allowed origins
	flag.Var(&allowed, "allow-origin", "an origin besides the server's own allowed to connect (repeatable)")
	flag.Parse()

	room := newRoom()
	h := sockjs.NewHandler(sockjs.Options{AllowedOrigins: allowed, SockJSURL: *sockjsURL}, room.serve)
	room.handler = h

	r := chi.NewRouter()
	r.Mount("/chat", h)
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, *sockjsURL)
	})

	srv := &http.Server{Addr: *addr, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("chat on http://%s/", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
