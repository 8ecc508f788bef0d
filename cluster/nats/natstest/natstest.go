// Package natstest runs a private nats-server with JetStream inside the test
// process: on a free loopback port, storing on a temporary directory, shut
// down when the test ends. It can be stopped and started again on the same
// port, with its data or empty, for outage tests. The server is the Go
// module github.com/nats-io/nats-server/v2, so there is nothing to install.
package natstest

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Server is one in-process nats-server on 127.0.0.1.
type Server struct {
	port int
	dir  string // JetStream's store directory
	url  string // an External server's

	mu  sync.Mutex
	srv *natsserver.Server
}

// Start starts a server for t and shuts it down when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("natstest: no free port: %v", err)
	}
	s := &Server{port: port, dir: t.TempDir()}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// External returns a Server for a nats-server started elsewhere, at url
// (nats://host:port), for benchmarks against a server in a process of its
// own. It cannot be stopped or restarted.
func External(url string) *Server { return &Server{url: url} }

// URL returns the server's address as clients take it: nats://127.0.0.1:PORT.
func (s *Server) URL() string {
	if s.url != "" {
		return s.url
	}
	return "nats://" + s.Addr()
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *Server) start() error {
	opts := &natsserver.Options{
		ServerName: "natstest-" + strconv.Itoa(s.port),
		Host:       "127.0.0.1",
		Port:       s.port,
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   s.dir,
		// Clients in tests reconnect at once; the default write deadline
		// and ping interval are fine.
	}
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		return fmt.Errorf("natstest: configure nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("natstest: nats-server on port %d not ready within 10s", s.port)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	return nil
}

// Stop shuts the server down (clients see their connection drop); it is a
// no-op on a stopped server.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	shutdown(srv)
}

// shutdown shuts srv down and waits until it is.
func shutdown(srv *natsserver.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart stops the server and starts it again on the same port with its
// JetStream data, as after a process restart with persistent storage.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// RestartEmpty stops the server and starts it again on the same port with
// an empty store, as after a restart that lost JetStream's data.
func (s *Server) RestartEmpty(t testing.TB) {
	t.Helper()
	s.Stop()
	s.dir = t.TempDir()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// Start starts a stopped server again on the same port, with its data.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	running := s.srv != nil
	s.mu.Unlock()
	if running {
		t.Fatal("natstest: Start on a running server")
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
