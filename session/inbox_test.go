package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// beginSend starts a send or fails the test.
func beginSend(t *testing.T, s *Session, size int) *Send {
	t.Helper()
	p, err := s.BeginSend(ctxT(t), size)
	if err != nil {
		t.Fatalf("BeginSend(%d): %v", size, err)
	}
	return p
}

// recvN reads n messages.
func recvN(t *testing.T, s *Session, n int) []string {
	t.Helper()
	var got []string
	for range n {
		m, err := s.Recv(ctxT(t))
		if err != nil {
			t.Fatalf("Recv after %q: %v", got, err)
		}
		got = append(got, m)
	}
	return got
}

// notYet fails the test if ch delivers within a short while: the call
// behind it is meant to be waiting.
func notYet(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s did not wait: %v", what, err)
	case <-time.After(30 * time.Millisecond):
	}
}

func TestSecondSendWaitsForTheFirst(t *testing.T) {
	s := newTestSession(t, Config{SendTimeout: time.Minute})
	first := beginSend(t, s, 10)
	second := make(chan error, 1)
	go func() {
		p, err := s.BeginSend(ctxT(t), 10)
		if err == nil {
			err = p.Deliver(ctxT(t), []string{"second"})
			p.End()
		}
		second <- err
	}()
	notYet(t, second, "a second concurrent BeginSend")
	if err := first.Deliver(ctxT(t), []string{"first"}); err != nil {
		t.Fatal(err)
	}
	first.End()
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := recvN(t, s, 2); got[0] != "first" || got[1] != "second" {
		t.Fatalf("got %q", got)
	}
}

// A send that waits a whole SendTimeout for another one gets ErrSendBusy
// and the session goes on.
func TestSendBusyAfterTimeout(t *testing.T) {
	s := newTestSession(t, Config{SendTimeout: 20 * time.Millisecond})
	first := beginSend(t, s, 10)
	if _, err := s.BeginSend(ctxT(t), 10); !errors.Is(err, ErrSendBusy) {
		t.Fatalf("second BeginSend: %v, want ErrSendBusy", err)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("session closed by a busy send: %v", err)
	}
	first.End()
	beginSend(t, s, 10).End()
}

// Room for the body is reserved before it is read: a send waits for the
// application while the inbox is full, and its reservation holds others
// back.
func TestSendReservesRoomFirst(t *testing.T) {
	s := newTestSession(t, Config{MaxInboxBytes: 100, SendTimeout: time.Minute})
	s.Deliver(ctxT(t), []string{strings.Repeat("x", 60)}) // costs 76
	got := make(chan error, 1)
	go func() {
		p, err := s.BeginSend(ctxT(t), 50)
		if err == nil {
			p.End()
		}
		got <- err
	}()
	notYet(t, got, "BeginSend into a full inbox")
	recvN(t, s, 1)
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	p := beginSend(t, s, 90) // reserves 90 of 100
	blocked := make(chan error, 1)
	go func() { blocked <- s.Deliver(ctxT(t), []string{"0123456789"}) }()
	notYet(t, blocked, "Deliver past a reservation")
	p.End()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
}

// A send that waits longer than SendTimeout for room closes the session
// with 1013, and delivers none of its messages; what came before is still
// read.
func TestSendTimeoutClosesSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int      // the body size BeginSend reserves
		msgs []string // what the send then delivers
	}{
		{"no room for the body", 50, []string{"a", "b"}},
		// 30 bytes reserved fit; 30 one-byte messages cost 510 and do not.
		{"no room for its messages", 30, strings.Split(strings.Repeat("a", 30), "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSession(t, Config{MaxInboxBytes: 100, SendTimeout: 20 * time.Millisecond})
			s.Deliver(ctxT(t), []string{strings.Repeat("x", 60)}) // costs 76
			p, err := s.BeginSend(ctxT(t), tc.size)
			if err == nil {
				err = p.Deliver(ctxT(t), tc.msgs)
				p.End()
			}
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != CodeSendTimeout || !errors.Is(err, ErrSendTimeout) {
				t.Fatalf("send: %v, want a 1013 CloseError for ErrSendTimeout", err)
			}
			if m, err := s.Recv(ctxT(t)); err != nil || m != strings.Repeat("x", 60) {
				t.Fatalf("Recv = %.10q, %v; want the message sent before", m, err)
			}
			if m, err := s.Recv(ctxT(t)); !errors.Is(err, ErrSendTimeout) {
				t.Fatalf("Recv = %q, %v; want ErrSendTimeout and nothing of the late send", m, err)
			}
		})
	}
}

// A send whose client goes away while it waits delivers nothing, and
// frees the slot and its reservation.
func TestSendDeliversAllOrNone(t *testing.T) {
	s := newTestSession(t, Config{MaxInboxBytes: 100, SendTimeout: time.Minute})
	s.Deliver(ctxT(t), []string{strings.Repeat("x", 60)})
	p := beginSend(t, s, 20)
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- p.Deliver(ctx, []string{"a", "b", "c"}) }() // 51 > 24 left
	notYet(t, done, "Deliver without room for all its messages")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver: %v", err)
	}
	p.End()
	p.End() // twice is harmless
	q := beginSend(t, s, 10)
	if err := q.Deliver(ctxT(t), []string{"next"}); err != nil {
		t.Fatal(err)
	}
	q.End()
	if got := recvN(t, s, 2); got[1] != "next" {
		t.Fatalf("got %.10q, want nothing of the abandoned send", got)
	}
}

// Concurrent sends each land in one piece, whatever the inbox size.
func TestConcurrentSendsNeverInterleave(t *testing.T) {
	s := newTestSession(t, Config{MaxInboxBytes: 64, SendTimeout: time.Minute})
	const sends, each = 6, 50
	var wg sync.WaitGroup
	for g := range sends {
		wg.Go(func() {
			msgs := make([]string, each)
			for i := range msgs {
				msgs[i] = fmt.Sprintf("%d:%d", g, i)
			}
			p, err := s.BeginSend(ctxT(t), 4*each)
			if err != nil {
				t.Error(err)
				return
			}
			defer p.End()
			if err := p.Deliver(ctxT(t), msgs); err != nil {
				t.Error(err)
			}
		})
	}
	got := recvN(t, s, sends*each)
	wg.Wait()
	for i := 0; i < len(got); i += each {
		var g0 int
		fmt.Sscanf(got[i], "%d:", &g0)
		for j := range each {
			if want := fmt.Sprintf("%d:%d", g0, j); got[i+j] != want {
				t.Fatalf("message %d is %q, want %q: sends interleaved", i+j, got[i+j], want)
			}
		}
	}
}

// A closed session refuses a send at once with its CloseError.
func TestSendToClosedSession(t *testing.T) {
	s := newTestSession(t, Config{SendTimeout: time.Minute})
	s.Close(3000, "bye")
	if _, err := s.BeginSend(ctxT(t), 10); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("BeginSend: %v", err)
	}
	beginSendFails := make(chan error, 1)
	go func() { _, err := s.BeginSend(ctxT(t), 10); beginSendFails <- err }()
	if err := <-beginSendFails; !errors.Is(err, ErrClosed) {
		t.Fatalf("second BeginSend: %v", err)
	}
}
