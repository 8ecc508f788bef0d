package session

import (
	"context"
	"errors"
	"testing"
)

type baseKey struct{}

// The session's context carries BaseContext's values, outlives its
// cancellation (the creating request ends long before the session), and
// ends when the session closes.
func TestBaseContext(t *testing.T) {
	base, cancelBase := context.WithCancel(context.WithValue(context.Background(), baseKey{}, "alice"))
	owner := new(int)
	s := newTestSession(t, Config{BaseContext: base, Owner: owner})
	cancelBase()
	ctx := s.Context()
	if got := ctx.Value(baseKey{}); got != "alice" {
		t.Fatalf("Context().Value = %v, want alice", got)
	}
	if ctx.Err() != nil {
		t.Fatalf("the base context's cancellation reached the session: %v", ctx.Err())
	}
	if s.Owner() != owner {
		t.Fatalf("Owner() = %v, want the configured one", s.Owner())
	}
	s.Close(4000, "done")
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("after Close: Context().Err() = %v", ctx.Err())
	}
	if err := s.Err(); err == nil {
		t.Fatal("closed session has no error")
	}
}
