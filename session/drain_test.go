package session

import (
	"errors"
	"testing"
	"time"
)

// EndReceiver and HeartbeatNow let a draining cluster node move a client's
// next request elsewhere without closing its session.
func TestDrainingAReceiver(t *testing.T) {
	for _, tc := range []struct {
		name string
		// drain acts on the session while a receiver waits for frames.
		drain func(*Session)
		// want is what the waiting receiver gets: a heartbeat frame, or
		// ErrDetached.
		wantHeartbeat bool
	}{
		{"EndReceiver ends a stream without closing the session", (*Session).EndReceiver, false},
		{"HeartbeatNow ends a poll with a heartbeat", func(s *Session) {
			if !s.HeartbeatNow() {
				t.Error("HeartbeatNow with a receiver attached reported none")
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSession(t, Config{HeartbeatDelay: time.Hour})
			r, err := s.Attach(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if f := next(t, r); f.Kind != KindOpen {
				t.Fatalf("first frame %v", f.Kind)
			}
			got := make(chan error, 1)
			var frame Frame
			go func() {
				var err error
				frame, err = r.NextAndDetach(ctxT(t))
				got <- err
			}()
			time.Sleep(20 * time.Millisecond) // waiting for a frame
			tc.drain(s)
			err = <-got
			switch {
			case tc.wantHeartbeat && (err != nil || frame.Kind != KindHeartbeat):
				t.Fatalf("poll ended with %v, %v; want a heartbeat", frame.Kind, err)
			case !tc.wantHeartbeat && !errors.Is(err, ErrDetached):
				t.Fatalf("stream ended with %v; want ErrDetached", err)
			}
			r.Detach()
			if s.Err() != nil {
				t.Fatalf("the session closed: %v", s.Err())
			}
			// The client's next request finds the session free and open.
			r2, err := s.Attach(ctxT(t))
			if err != nil {
				t.Fatalf("next receiver: %v", err)
			}
			s.Send("after")
			if f := next(t, r2); f.Kind != KindMessages {
				t.Fatalf("next receiver got %v", f.Kind)
			}
			r2.Detach()
		})
	}
	// Without a receiver, both do nothing.
	s := newTestSession(t, Config{})
	s.EndReceiver()
	if s.HeartbeatNow() {
		t.Error("HeartbeatNow without a receiver reported one")
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
}
