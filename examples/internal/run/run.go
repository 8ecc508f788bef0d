// Package run holds what the example programs share: a repeatable
// -allow-origin flag and an HTTP server that shuts down gracefully on SIGINT
// or SIGTERM, SockJS handlers first.
package run

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Origins is a flag.Value collecting every -allow-origin given.
type Origins []string

// String implements flag.Value.
func (o *Origins) String() string { return strings.Join(*o, ",") }

// Set implements flag.Value.
func (o *Origins) Set(v string) error { *o = append(*o, v); return nil }

// ShutdownTimeout bounds a graceful shutdown: sessions told, responses
// ended, connections closed.
const ShutdownTimeout = 10 * time.Second

// ListenGrace is how long the server keeps taking requests while the
// handlers shut down: a poll that arrives meanwhile still gets its close
// frame, and a load balancer has time to see the node leave.
const ListenGrace = time.Second

// Serve serves h on addr until the process gets SIGINT or SIGTERM, then
// shuts down gracefully (see Until) and returns, so that main can return
// and the process exit with status 0. A listen error, or a shutdown that
// runs past ShutdownTimeout, is logged and exits with status 1.
func Serve(addr string, h http.Handler, shutdown ...func(context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on http://%s", ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if err := Until(ctx, srv, ln, shutdown...); err != nil {
		log.Fatal(err)
	}
	log.Print("shut down")
}

// Until serves srv on ln until ctx ends, then shuts down in the order that
// lets every SockJS client hear of it: first the shutdown functions
// (sockjs.Handler.Shutdown, which closes every session with
// c[1001,"Server is shutting down"], ends each streaming response, waiting
// poll and websocket after its close frame, and waits for them), then,
// once they are done or after ListenGrace, srv.Shutdown, which then finds
// only idle connections (or the requests a cluster node still carries for
// other nodes, which end soon after). Starting with srv.Shutdown would not
// work: Server.Shutdown waits for active responses, which end only when
// their sessions close, and ignores websockets. What the handlers use (a
// cluster's Redis connection) is closed by the caller after Until returns.
//
// Until serves TLS (HTTP/2 included) when srv.TLSConfig has certificates.
// It returns nil after a clean shutdown within ShutdownTimeout, else the
// errors met.
func Until(ctx context.Context, srv *http.Server, ln net.Listener, shutdown ...func(context.Context) error) error {
	// Once shutting down, every response closes its connection: a proxy
	// in front then sends its next requests on new connections (to other
	// nodes, once the listener closes) rather than on a kept-alive one the
	// server is about to close under a request in flight.
	var draining atomic.Bool
	if h := srv.Handler; h != nil {
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if draining.Load() {
				w.Header().Set("Connection", "close")
			}
			h.ServeHTTP(w, r)
		})
	}
	served := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil && (len(srv.TLSConfig.Certificates) > 0 || srv.TLSConfig.GetCertificate != nil) {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	draining.Store(true)
	log.Print("shutting down: closing every session")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	errs := make([]error, len(shutdown))
	var wg sync.WaitGroup
	for i, f := range shutdown {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f(sctx) }()
	}
	handlersDone := make(chan struct{})
	go func() { wg.Wait(); close(handlersDone) }()
	// The server keeps taking requests until the handlers are done, or for
	// ListenGrace: a cluster node's handler goes on carrying requests of
	// other nodes' sessions while requests still arrive, and finishes
	// once the server stops taking them.
	select {
	case <-handlersDone:
	case <-time.After(ListenGrace):
	}
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http server shutdown: %w", err))
	}
	<-handlersDone
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	return errors.Join(errs...)
}
