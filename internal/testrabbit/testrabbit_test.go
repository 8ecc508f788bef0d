package testrabbit

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestStartKillRestartStop starts a node, kills it (its STOMP port refuses),
// restarts it on the same port, and stops it with its epmd: nothing is left
// listening and no goroutine is left running.
func TestStartKillRestartStop(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, err := Start()
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	epmdPort := s.envValue("ERL_EPMD_PORT")
	s.Kill()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("STOMP port %s still answers after Kill", addr)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Fatalf("Restart moved the node from %s to %s", addr, s.Addr())
	}
	s.Stop()
	for _, a := range []string{addr, net.JoinHostPort("127.0.0.1", epmdPort)} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still answers after Stop (a node or epmd left behind)", a)
		}
	}
}
