package session

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/internal/frame"
)

// manualScheduler runs timers only when the test says so, so that a test
// decides when a session re-checks its deadlines.
type manualScheduler struct {
	mu     sync.Mutex
	timers []*manualTimer
}

type manualTimer struct {
	mu    sync.Mutex
	f     func()
	armed bool
}

func (m *manualScheduler) AfterFunc(_ time.Duration, f func()) Timer {
	t := &manualTimer{f: f, armed: true}
	m.mu.Lock()
	m.timers = append(m.timers, t)
	m.mu.Unlock()
	return t
}

func (t *manualTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.armed
	t.armed = false
	return was
}

func (t *manualTimer) Reset(time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.armed
	t.armed = true
	return was
}

// fire runs every armed timer once, as if its delay had passed.
func (m *manualScheduler) fire() {
	m.mu.Lock()
	timers := append([]*manualTimer(nil), m.timers...)
	m.mu.Unlock()
	for _, t := range timers {
		t.mu.Lock()
		armed := t.armed
		t.armed = false
		t.mu.Unlock()
		if armed {
			t.f()
		}
	}
}

// pollSession is a session with a tiny disconnect delay on a manual
// scheduler; expired reports whether OnExpire ran.
func pollSession(t *testing.T) (s *Session, sched *manualScheduler, expired func() bool) {
	t.Helper()
	sched = &manualScheduler{}
	var mu sync.Mutex
	done := false
	s = New("s1", Config{DisconnectDelay: time.Millisecond, Scheduler: sched, OnExpire: func(*Session) {
		mu.Lock()
		done = true
		mu.Unlock()
	}})
	t.Cleanup(func() { s.Expire(&CloseError{Code: 1000, Cause: ErrServerClosed}) })
	return s, sched, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return done
	}
}

// pastDelay waits past the disconnect delay, then lets the timers run.
func pastDelay(sched *manualScheduler) {
	time.Sleep(20 * time.Millisecond)
	sched.fire()
}

// TestPollWriteDoesNotExpireItsSession: the disconnect delay of a polling
// session runs from when its response was written (Detach), not from when
// the frame was taken, so a write slower than the delay does not expire
// the session it writes for; and the session is still free for a re-poll
// at once.
func TestPollWriteDoesNotExpireItsSession(t *testing.T) {
	s, sched, expired := pollSession(t)
	r, err := s.Attach(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := r.NextAndDetach(ctxT(t)); err != nil || f.Kind != KindOpen {
		t.Fatalf("NextAndDetach: %v %v", f, err)
	}
	pastDelay(sched) // the write takes longer than the disconnect delay
	if expired() || s.Err() != nil {
		t.Fatalf("session expired while its poll was being written: %v", s.Err())
	}
	r.Detach() // the write is done
	pastDelay(sched)
	if !expired() || !errors.Is(s.Err(), ErrTimedOut) {
		t.Fatalf("session did not expire a disconnect delay after the poll was written: %v", s.Err())
	}
}

// TestRepollDuringSlowWrite: a client that re-polls while the previous
// response is still being written gets the session (no 2010), and the
// earlier write finishing does not start the disconnect delay under the
// new receiver.
func TestRepollDuringSlowWrite(t *testing.T) {
	s, sched, expired := pollSession(t)
	r1, _ := s.Attach(ctxT(t))
	if _, err := r1.NextAndDetach(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r2, err := s.Attach(ctxT(t))
	if err != nil {
		t.Fatalf("re-poll during the write: %v", err)
	}
	r1.Detach()
	pastDelay(sched)
	if expired() {
		t.Fatal("session expired with a receiver attached")
	}
	s.Send("m")
	if f, err := r2.NextAndDetach(ctxT(t)); err != nil || string(f.Data) != `a["m"]` {
		t.Fatalf("second poll: %q %v", f.Data, err)
	}
	pastDelay(sched)
	if expired() {
		t.Fatal("session expired during the second poll's write")
	}
	r2.Detach()
	pastDelay(sched)
	if !expired() {
		t.Fatal("session did not expire after the last poll")
	}
}

// TestReleaseBeforeCloseFrame: a receiver that frees the slot before
// writing the close frame (Release) lets the next request replay the close
// frame at once, and the closed session is remembered for a disconnect
// delay from the end of that write.
func TestReleaseBeforeCloseFrame(t *testing.T) {
	s, sched, expired := pollSession(t)
	r, _ := s.Attach(ctxT(t))
	next(t, r)
	s.Close(3000, "Go away!")
	if f := next(t, r); f.Kind != KindClose {
		t.Fatalf("frame %q", f.Data)
	}
	r.Release()
	r2, err := s.Attach(ctxT(t))
	if err != nil {
		t.Fatalf("request after the close frame: %v", err)
	}
	if f := next(t, r2); string(f.Data) != `c[3000,"Go away!"]` {
		t.Fatalf("replay %q", f.Data)
	}
	r2.Detach()
	pastDelay(sched)
	if expired() {
		t.Fatal("closed session forgotten while its close frame was being written")
	}
	r.Detach()
	pastDelay(sched)
	if !expired() {
		t.Fatal("closed session not forgotten a disconnect delay after the last write")
	}
}

// TestLimitBatch: with a batch limit, a frame carries as many queued
// messages as fit (at least one), in order; the rest stays queued, and
// counts against MaxQueuedBytes only while it is queued.
func TestLimitBatch(t *testing.T) {
	const size = 100 // each message quotes to 102 bytes
	tests := []struct {
		name  string
		limit int
		queue int
		want  []int // messages per frame
	}{
		{"three fit", 350, 10, []int{3, 3, 3, 1}},
		{"exact fit", 306, 6, []int{3, 3}},
		{"larger than the limit goes alone", 50, 3, []int{1, 1, 1}},
		{"no limit", 0, 10, []int{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSession(t, Config{MaxQueuedBytes: tt.queue * (size + 2)})
			r, _ := s.Attach(ctxT(t))
			r.LimitBatch(tt.limit)
			next(t, r)
			for i := range tt.queue {
				if err := s.Send(fmt.Sprintf("%0*d", size, i)); err != nil {
					t.Fatal(err)
				}
			}
			seq := 0
			for i, n := range tt.want {
				f := next(t, r)
				msgs, err := frame.DecodeMessages(f.Data[1:])
				if err != nil || len(msgs) != n {
					t.Fatalf("frame %d: %d messages (%v), want %d", i, len(msgs), err, n)
				}
				for _, m := range msgs {
					if want := fmt.Sprintf("%0*d", size, seq); m != want {
						t.Fatalf("message %q, want %q", m, want)
					}
					seq++
				}
				// What was taken no longer counts against MaxQueuedBytes.
				s.mu.Lock()
				queued := 0
				for _, q := range s.out {
					queued += len(q)
				}
				if s.outBytes != queued {
					t.Errorf("outBytes %d, queued %d", s.outBytes, queued)
				}
				s.mu.Unlock()
			}
			s.mu.Lock()
			left := len(s.out)
			s.mu.Unlock()
			if left != 0 {
				t.Fatalf("%d messages left queued", left)
			}
		})
	}
}
