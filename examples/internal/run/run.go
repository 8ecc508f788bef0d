// Package run holds what the example programs share: a repeatable
// -allow-origin flag and an HTTP server that shuts down cleanly on SIGINT
// or SIGTERM, SockJS handlers included.
package run

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Origins is a flag.Value collecting every -allow-origin given.
type Origins []string

// String implements flag.Value.
func (o *Origins) String() string { return strings.Join(*o, ",") }

// Set implements flag.Value.
func (o *Origins) Set(v string) error { *o = append(*o, v); return nil }

// Serve serves h on addr until the process is interrupted, then shuts the
// server down and calls every shutdown function (sockjs.Handler.Shutdown:
// http.Server.Shutdown alone does not end streaming responses and
// websockets). It exits the process on a listen error.
func Serve(addr string, h http.Handler, shutdown ...func(context.Context) error) {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, f := range shutdown {
			if err := f(ctx); err != nil {
				log.Printf("shutdown: %v", err)
			}
		}
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
