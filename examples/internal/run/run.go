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

// ListenGrace is how long the server keeps taking connections once it
// begins to shut down: a poll that arrives meanwhile still gets its close
// frame, and a load balancer that checks HealthPath more often than this
// has marked the node down before its listener closes, so that no new
// connection is refused (or reset in the listener's queue) under a request.
const ListenGrace = time.Second

// HealthPath is answered by Until itself, before the application's handler:
// 200 while the server serves, 503 once it shuts down. Point the load
// balancer's health check at it (HAProxy: option httpchk GET /healthz,
// inter 250ms fall 1) so that it stops sending requests to a node that is
// draining before the node stops taking them.
const HealthPath = "/healthz"

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

// RequestQuiet is how long no request may have arrived, on connections
// kept alive from before the listener closed, before a shutting-down server
// closes its idle connections. A proxy that keeps connections alive reuses
// one the moment it routes a request here; closing an idle connection while
// it still does so loses the request it is writing (a POST, such as a
// SockJS send, is not retried by most proxies), so the server waits until
// the proxy has stopped sending before closing them.
const RequestQuiet = 500 * time.Millisecond

// Until serves srv on ln until ctx ends, then shuts down in the order that
// lets every SockJS client hear of it and loses no request on the way:
//
//  1. Every response from then on closes its connection, and the shutdown
//     functions start (sockjs.Handler.Shutdown, which closes every session
//     with c[1001,"Server is shutting down"], ends each streaming response,
//     waiting poll and websocket after its close frame, and waits for them;
//     a cluster node goes on carrying requests of other nodes' sessions
//     while they arrive).
//  2. After ListenGrace (HealthPath has answered 503 since step 1, so a
//     balancer that checks it has stopped sending here), the listener
//     closes. The connections already open are still served, one last
//     request each.
//  3. Once the shutdown functions are done and no request has arrived for
//     RequestQuiet, srv.Shutdown closes the idle connections and waits for
//     the rest.
//
// Starting with srv.Shutdown would not work: Server.Shutdown waits for
// active responses, which end only when their sessions close, ignores
// websockets, and closes idle connections at once, under a proxy that may be
// writing a request on one. What the handlers use (a cluster's Redis
// connection) is closed by the caller after Until returns.
//
// Until serves TLS (HTTP/2 included) when srv.TLSConfig has certificates.
// It returns nil after a clean shutdown within ShutdownTimeout, else the
// errors met.
func Until(ctx context.Context, srv *http.Server, ln net.Listener, shutdown ...func(context.Context) error) error {
	var draining atomic.Bool
	var lastRequest atomic.Int64 // unix nanoseconds
	if h := srv.Handler; h != nil {
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == HealthPath {
				health(w, draining.Load())
				return
			}
			lastRequest.Store(time.Now().UnixNano())
			if draining.Load() {
				// A proxy then sends its next requests on new connections,
				// which go to other nodes once the listener closes.
				w.Header().Set("Connection", "close")
			}
			h.ServeHTTP(w, r)
		})
	}
	ln = &closeOnceListener{Listener: ln}
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
	time.Sleep(ListenGrace)
	_ = ln.Close()
	select {
	case <-handlersDone:
	case <-sctx.Done():
	}
	awaitQuiet(sctx, &lastRequest)
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http server shutdown: %w", err))
	}
	<-handlersDone
	if err := <-served; !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	return errors.Join(errs...)
}

// requestQuiet is RequestQuiet, longer in tests that must not depend on the
// machine's speed.
var requestQuiet = RequestQuiet

// health answers a health check.
func health(w http.ResponseWriter, draining bool) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if draining {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("shutting down\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// awaitQuiet returns once no request has arrived for RequestQuiet, or when
// ctx ends.
func awaitQuiet(ctx context.Context, lastRequest *atomic.Int64) {
	for {
		quiet := time.Since(time.Unix(0, lastRequest.Load()))
		if quiet >= requestQuiet {
			return
		}
		t := time.NewTimer(requestQuiet - quiet)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// closeOnceListener lets Until close the listener before srv.Shutdown
// closes it again (which would then report the second close as an error).
type closeOnceListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *closeOnceListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
