package session

import (
	"context"
	"testing"
	"time"
)

func TestEndedSessionsGiveOnlyTheCloseFrame(t *testing.T) {
	tests := []struct {
		name string
		make func() *Session
		want string
	}{
		{"NewEnded", func() *Session {
			return NewEnded("sid", &CloseError{Code: 1011, Reason: "Session lost"})
		}, `c[1011,"Session lost"]`},
		{"ExpireUnopened on a new session", func() *Session {
			s := New("sid", Config{DisconnectDelay: time.Hour})
			s.ExpireUnopened(&CloseError{Code: 1001, Reason: "Server is shutting down"})
			return s
		}, `c[1001,"Server is shutting down"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.make()
			r, err := s.Attach(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			f, err := r.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if f.Kind != KindClose || string(f.Data) != tt.want {
				t.Fatalf("first frame %v %q, want the close frame %s alone", f.Kind, f.Data, tt.want)
			}
			if err := s.Send("late"); err == nil {
				t.Fatal("Send on an ended session succeeded")
			}
		})
	}
}
