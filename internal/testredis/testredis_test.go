package testredis

import "testing"

func TestStopAndRestartOnTheSamePort(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("fresh server does not answer PING: %v", err)
	}
	addr := s.Addr()
	s.Stop()
	if err := ping(addr); err == nil {
		t.Fatal("stopped server still answers PING")
	}
	s.Restart(t)
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("restarted server does not answer PING: %v", err)
	}
}
