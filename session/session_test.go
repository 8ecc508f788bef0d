package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestSession(t *testing.T, cfg Config) *Session {
	t.Helper()
	if cfg.DisconnectDelay == 0 {
		cfg.DisconnectDelay = time.Minute
	}
	s := New("s1", cfg)
	t.Cleanup(func() { s.Expire(&CloseError{Code: 1000, Cause: ErrServerClosed}) })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func next(t *testing.T, r *Receiver) Frame {
	t.Helper()
	f, err := r.Next(ctxT(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return Frame{Kind: f.Kind, Data: append([]byte(nil), f.Data...)}
}

func TestOpenThenBatchedMessagesThenClose(t *testing.T) {
	s := newTestSession(t, Config{})
	r, err := s.Attach(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if f := next(t, r); f.Kind != KindOpen || string(f.Data) != "o" {
		t.Fatalf("first frame %q", f.Data)
	}
	for i := range 3 {
		if err := s.Send(fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	if f := next(t, r); string(f.Data) != `a["m0","m1","m2"]` {
		t.Fatalf("batch %q", f.Data)
	}
	s.Send("last")
	if err := s.Close(3000, "Go away!"); err != nil {
		t.Fatal(err)
	}
	if err := s.Send("after"); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Send after close: %v", err)
	}
	if f := next(t, r); string(f.Data) != `a["last"]` {
		t.Fatalf("pending message not flushed before close: %q", f.Data)
	}
	if f := next(t, r); f.Kind != KindClose || string(f.Data) != `c[3000,"Go away!"]` {
		t.Fatalf("close frame %q", f.Data)
	}
	r.Detach()
	// Replayed to every later receiver.
	for range 2 {
		r2, err := s.Attach(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if f := next(t, r2); string(f.Data) != `c[3000,"Go away!"]` {
			t.Fatalf("replay %q", f.Data)
		}
		r2.Detach()
	}
	if s.State() != StateClosed {
		t.Fatalf("state %v", s.State())
	}
}

func TestOpenFrameComesFirstEvenIfClosedAtOnce(t *testing.T) {
	s := newTestSession(t, Config{})
	s.Close(3000, "Go away!")
	r, _ := s.Attach(ctxT(t))
	f, _ := r.NextAndDetach(ctxT(t))
	if string(f.Data) != "o" {
		t.Fatalf("got %q", f.Data)
	}
	r, _ = s.Attach(ctxT(t))
	f, _ = r.NextAndDetach(ctxT(t))
	if string(f.Data) != `c[3000,"Go away!"]` {
		t.Fatalf("got %q", f.Data)
	}
}

func TestSecondReceiverIsBusyAndFirstGoesOn(t *testing.T) {
	s := newTestSession(t, Config{})
	r1, _ := s.Attach(ctxT(t))
	next(t, r1)
	if _, err := s.Attach(ctxT(t)); !errors.Is(err, ErrReceiverBusy) {
		t.Fatalf("second Attach: %v", err)
	}
	s.Send("x")
	if f := next(t, r1); string(f.Data) != `a["x"]` {
		t.Fatalf("first receiver got %q", f.Data)
	}
}

func TestReceiverWhoseClientLeftIsInterruptedByNewcomer(t *testing.T) {
	s := newTestSession(t, Config{})
	gone, cancel := context.WithCancel(context.Background())
	r1, _ := s.Attach(gone)
	next(t, r1)
	cancel() // client went away; its goroutine has not noticed yet
	r2, err := s.Attach(ctxT(t))
	if err != nil {
		t.Fatalf("Attach after the first client left: %v", err)
	}
	if f := next(t, r2); string(f.Data) != `c[1002,"Connection interrupted"]` {
		t.Fatalf("got %q", f.Data)
	}
	if !errors.Is(s.Err(), ErrClientClosed) {
		t.Fatalf("cause %v", s.Err())
	}
}

func TestNextAndDetachFreesSessionBeforeReturning(t *testing.T) {
	s := newTestSession(t, Config{})
	for i := range 1000 {
		r, err := s.Attach(ctxT(t))
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		if i > 0 {
			s.Send("m")
		}
		if _, err := r.NextAndDetach(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNextHonoursContext(t *testing.T) {
	s := newTestSession(t, Config{})
	r, _ := s.Attach(ctxT(t))
	next(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	r.Detach()
	if _, err := r.Next(ctxT(t)); !errors.Is(err, ErrDetached) {
		t.Fatalf("after Detach: %v", err)
	}
}

func TestExpiresAfterDisconnectDelay(t *testing.T) {
	expired := make(chan *Session, 1)
	s := New("x", Config{DisconnectDelay: 20 * time.Millisecond, OnExpire: func(s *Session) { expired <- s }})
	r, _ := s.Attach(ctxT(t))
	next(t, r)
	r.Detach()
	select {
	case <-expired:
	case <-time.After(5 * time.Second):
		t.Fatal("session did not expire")
	}
	if _, err := s.Recv(ctxT(t)); !errors.Is(err, ErrTimedOut) {
		t.Fatalf("Recv: %v", err)
	}
	if s.Context().Err() == nil {
		t.Fatal("context not cancelled")
	}
}

// Config.Hold defers the timeout of a session with no receiver, also when
// the hold moves after the session's timer was set; it never expires early.
func TestHoldDefersExpiry(t *testing.T) {
	for _, tc := range []struct {
		name        string
		beforeLeave bool // the hold is set before the receiver leaves
	}{
		{"hold set before the receiver leaves", true},
		{"hold set while the delay runs", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hold atomic.Int64
			expired := make(chan time.Time, 1)
			s := New("x", Config{DisconnectDelay: 20 * time.Millisecond,
				Hold:     func() time.Time { return time.Unix(0, hold.Load()) },
				OnExpire: func(*Session) { expired <- time.Now() }})
			r, _ := s.Attach(ctxT(t))
			next(t, r)
			until := time.Now().Add(300 * time.Millisecond)
			if tc.beforeLeave {
				hold.Store(until.UnixNano())
			}
			r.Detach()
			if !tc.beforeLeave {
				hold.Store(until.UnixNano())
			}
			select {
			case at := <-expired:
				if at.Before(until) {
					t.Fatalf("expired %v before the hold ended", until.Sub(at))
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the session never expired after its hold ended")
			}
		})
	}
}

func TestAttachedSessionDoesNotExpire(t *testing.T) {
	expired := make(chan struct{}, 1)
	s := New("x", Config{DisconnectDelay: 10 * time.Millisecond, HeartbeatDelay: 5 * time.Millisecond,
		OnExpire: func(*Session) { expired <- struct{}{} }})
	defer s.Expire(&CloseError{Cause: ErrServerClosed})
	r, _ := s.Attach(ctxT(t))
	next(t, r)
	// Ten heartbeats span many disconnect delays: the attached session lives.
	for range 10 {
		if f := next(t, r); f.Kind != KindHeartbeat || string(f.Data) != "h" {
			t.Fatalf("got %q", f.Data)
		}
	}
	select {
	case <-expired:
		t.Fatal("expired while attached")
	default:
	}
}

func TestSlowConsumerClosesSession(t *testing.T) {
	s := newTestSession(t, Config{MaxQueuedBytes: 100})
	var err error
	for i := 0; err == nil && i < 100; i++ {
		err = s.Send("0123456789")
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("got %v", err)
	}
	r, _ := s.Attach(ctxT(t))
	next(t, r) // open
	if f := next(t, r); string(f.Data) != `c[1008,"Send queue overflow"]` {
		t.Fatalf("got %q", f.Data)
	}
}

func TestRecvDrainsThenReportsClose(t *testing.T) {
	s := newTestSession(t, Config{})
	s.Deliver(ctxT(t), []string{"a", "b"})
	s.CloseWith(&CloseError{Code: 1000, Reason: "bye", Cause: ErrClientClosed})
	for _, want := range []string{"a", "b"} {
		if m, err := s.Recv(ctxT(t)); err != nil || m != want {
			t.Fatalf("Recv = %q, %v", m, err)
		}
	}
	_, err := s.Recv(ctxT(t))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 || !errors.Is(err, ErrClientClosed) {
		t.Fatalf("got %v", err)
	}
	if err := s.Deliver(ctxT(t), []string{"late"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Deliver after close: %v", err)
	}
}

func TestDeliverWaitsForRoom(t *testing.T) {
	s := newTestSession(t, Config{MaxInboxBytes: 4})
	s.Deliver(ctxT(t), []string{"1234"})
	done := make(chan error, 1)
	go func() { done <- s.Deliver(context.Background(), []string{"5678"}) }()
	select {
	case err := <-done:
		t.Fatalf("Deliver did not wait for room: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	if m, _ := s.Recv(ctxT(t)); m != "1234" {
		t.Fatalf("got %q", m)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Recv(ctxT(t)); m != "5678" {
		t.Fatalf("got %q", m)
	}
}

func TestConcurrentSendersKeepEachOnesOrder(t *testing.T) {
	s := newTestSession(t, Config{})
	const senders, each = 8, 500
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				s.Send(fmt.Sprintf("%d:%d", g, i))
			}
		})
	}
	got := make(chan []byte, 1)
	r, _ := s.Attach(ctxT(t))
	next(t, r)
	go func() {
		wg.Wait()
		s.Close(3000, "done")
	}()
	var all []byte
	for {
		f := next(t, r)
		if f.Kind == KindClose {
			break
		}
		all = append(all, f.Data...)
	}
	got <- all
	last := make([]int, senders)
	for i := range last {
		last[i] = -1
	}
	var g, i int
	data := string(<-got)
	n := 0
	for p := 0; p < len(data); p++ {
		if _, err := fmt.Sscanf(data[p:], "\"%d:%d\"", &g, &i); err == nil {
			if i != last[g]+1 {
				t.Fatalf("sender %d: got %d after %d", g, i, last[g])
			}
			last[g] = i
			n++
			for p < len(data) && data[p] != ',' && data[p] != ']' {
				p++
			}
		}
	}
	if n != senders*each {
		t.Fatalf("got %d messages, want %d", n, senders*each)
	}
}

func TestAttachWaitsOutAReceiverThatIsLeaving(t *testing.T) {
	s := newTestSession(t, Config{})
	r1, _ := s.Attach(ctxT(t))
	next(t, r1)
	attached := make(chan error, 1)
	go func() {
		r2, err := s.Attach(ctxT(t))
		if err == nil {
			r2.Detach()
		}
		attached <- err
	}()
	r1.Detach() // the first response ends during the grace
	if err := <-attached; err != nil {
		t.Fatalf("Attach while the first receiver detached: %v", err)
	}
	if s.Err() != nil {
		t.Fatalf("a clean detach must not close the session: %v", s.Err())
	}
}

func TestRecvWithTheSessionContextReportsTheClose(t *testing.T) {
	s := newTestSession(t, Config{})
	go s.Close(3000, "bye")
	_, err := s.Recv(s.Context())
	if !errors.Is(err, ErrServerClosed) {
		t.Fatalf("got %v, want the CloseError", err)
	}
}

// Empty messages count against MaxInboxBytes too (by their string header),
// so a client cannot queue an unbounded number of them.
func TestInboxBoundsEmptyMessages(t *testing.T) {
	s := newTestSession(t, Config{MaxInboxBytes: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Deliver(ctx, make([]string, 100000))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver of 100000 empty messages into a 100-byte inbox returned %v; want it to wait for room", err)
	}
}

func TestPingsComeEveryDelayWhileMessagesFlow(t *testing.T) {
	s := newTestSession(t, Config{HeartbeatDelay: 20 * time.Millisecond})
	r, _ := s.Attach(ctxT(t))
	next(t, r)
	r.EnablePings()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // keep the connection busy, so that no heartbeat is due
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				s.Send("x")
			}
		}
	}()
	pings := 0
	for pings < 3 {
		f := next(t, r)
		switch f.Kind {
		case KindPing:
			pings++
		case KindHeartbeat:
			// allowed on a loaded machine, but not needed
		}
	}
}

// With heartbeats off, a receiver that enabled pings still gets them every
// PingInterval, and no heartbeat ever: pings are the websocket's liveness
// probe, heartbeats a SockJS frame.
func TestPingsWithHeartbeatsOff(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		pings bool
	}{
		{"ping interval set", Config{HeartbeatDelay: -1, PingInterval: 20 * time.Millisecond}, true},
		{"neither set", Config{HeartbeatDelay: -1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSession(t, tc.cfg)
			r, _ := s.Attach(ctxT(t))
			next(t, r) // the open frame
			r.EnablePings()
			// Generous when pings are expected (the loop ends at the third),
			// short when none is.
			wait := 300 * time.Millisecond
			if tc.pings {
				wait = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			pings := 0
			for pings < 3 {
				f, err := r.Next(ctx)
				if err != nil {
					break
				}
				switch f.Kind {
				case KindPing:
					pings++
				case KindHeartbeat:
					t.Fatal("a heartbeat with heartbeats off")
				}
			}
			if got := pings >= 3; got != tc.pings {
				t.Fatalf("%d pings within %v; want pings: %v", pings, wait, tc.pings)
			}
		})
	}
}

// Pings do not put heartbeats off (found holding 100k sessions: websocket
// clients saw no "h" for two delays, a ping having gone out just before
// the heartbeat was due). With pings more frequent than heartbeats, each
// ping used to push the heartbeat a whole delay away: none ever came.
func TestPingsDoNotPutHeartbeatsOff(t *testing.T) {
	s := newTestSession(t, Config{HeartbeatDelay: 50 * time.Millisecond, PingInterval: 20 * time.Millisecond})
	r, _ := s.Attach(ctxT(t))
	r.EnablePings() // before the open frame, as the websocket transport does
	next(t, r)
	// A heartbeat is due 50 ms after the open frame, after two or three
	// pings; ten pings are four delays.
	for pings := 0; ; {
		f := next(t, r)
		if f.Kind == KindHeartbeat {
			return
		}
		if f.Kind != KindPing {
			t.Fatalf("frame %v; want pings and a heartbeat", f.Kind)
		}
		if pings++; pings == 10 {
			t.Fatal("ten pings and no heartbeat: the pings put it off")
		}
	}
}
