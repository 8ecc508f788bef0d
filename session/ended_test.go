package session

import (
	"context"
	"testing"
)

func TestNewEndedGivesOnlyTheCloseFrame(t *testing.T) {
	s := NewEnded("sid", &CloseError{Code: 1011, Reason: "Session lost"})
	r, err := s.Attach(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != KindClose || string(f.Data) != `c[1011,"Session lost"]` {
		t.Fatalf("first frame %v %q, want the close frame alone", f.Kind, f.Data)
	}
	if err := s.Send("late"); err == nil {
		t.Fatal("Send on an ended session succeeded")
	}
}
