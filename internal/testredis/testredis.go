// Package testredis starts a private redis-server for tests: on a free
// loopback port, with persistence off, killed when the test ends. Tests of
// the cluster need a real server (the semantics of SET NX PX, streams and
// pub/sub under reconnects are the point), so there is no fake.
//
// When redis-server is not installed, Start fails the test with a message
// naming the command that installs it (scripts/test-all.sh runs it): a
// missing server is a broken machine, not a reason to skip.
package testredis

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ErrNotInstalled is returned by Find when no redis-server can be found.
var ErrNotInstalled = errors.New("testredis: redis-server not found: install it with `apt-get install redis-server` (scripts/test-all.sh does) or set REDIS_SERVER to its path")

// Find returns the path of the redis-server binary: $REDIS_SERVER, else the
// one on PATH, else Debian's /usr/bin/redis-server.
func Find() (string, error) {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return "", ErrNotInstalled
}

// Server is one redis-server process on 127.0.0.1. It can be stopped and
// started again on the same port, for outage tests.
type Server struct {
	bin  string
	port int
	dir  string

	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{} // closed when proc has been waited for
}

// Start starts a server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("testredis: no free port: %v", err)
	}
	s := &Server{bin: bin, port: port, dir: t.TempDir()}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Stop kills the server (as a crash would) and waits for it to exit. It is
// safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	proc, exited := s.proc, s.exited
	s.proc, s.exited = nil, nil
	s.mu.Unlock()
	if proc == nil {
		return
	}
	_ = proc.Kill()
	<-exited
}

// Restart starts a stopped server again on the same port, empty (there is no
// persistence), as a replacement server after an outage would be.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) start() error {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--protected-mode", "yes",
		"--loglevel", "warning",
	}
	cmd := exec.Command(s.bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testredis: start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for ping(s.Addr()) != nil {
		select {
		case <-exited:
			return fmt.Errorf("testredis: redis-server exited at start (%v): %s", waitErr, out)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("testredis: redis-server on port %d did not answer PING within 10s: %s", s.port, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.proc, s.exited = cmd.Process, exited
	s.mu.Unlock()
	return nil
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected answer %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the server's output for error messages; stdout and
// stderr write to it from two goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(w.b.String())
}
