package relay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sockline/sockline/stomp"
)

// waitClosed waits for p's closed callback and returns its reason.
func (p *probe) waitClosed(t testing.TB, within time.Duration) error {
	t.Helper()
	for {
		select {
		case err := <-p.closed:
			if err == nil {
				t.Fatal("closed called with a nil reason")
			}
			return err
		case <-p.frames: // heart-beats are not delivered; anything else in flight is dropped
		case <-time.After(within):
			t.Fatalf("closed not called within %v", within)
			return nil
		}
	}
}

// TestBrokerKilled kills the broker under live sessions: they get closed
// with ErrBrokerUnavailable, Open and Publish fail at once while it is down,
// and once it is back the system connection reconnects and sessions work.
func TestBrokerKilled(t *testing.T) {
	b := needBroker(t)
	r := newRelay(t, testOptions(b.Addr()))
	sessions := []*probe{open(t, r, "guest", "guest"), open(t, r, "guest", "guest")}
	sessions[0].subscribe(t, "s", "/topic/outage")

	b.Kill()
	restarted := false
	defer func() {
		if !restarted {
			if err := b.Restart(); err != nil {
				t.Error(err)
			}
		}
	}()
	for i, p := range sessions {
		err := p.waitClosed(t, 5*time.Second)
		if !errors.Is(err, ErrBrokerUnavailable) {
			t.Errorf("session %d closed with %v, want ErrBrokerUnavailable", i, err)
		}
		t.Logf("session %d closed: %v", i, err)
	}
	// The system connection notices too (a session's Open can fail before
	// it does, on its own dial, and a Publish before it does is queued on
	// the dead connection like any frame sent without a receipt); once it
	// has, Open and Publish fail fast.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := r.systemState(context.Background()); err != nil {
			if !errors.Is(err, ErrBrokerUnavailable) {
				t.Fatalf("system connection down with %v, want ErrBrokerUnavailable", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the system connection still looks up 5 s after the broker was killed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	_, err := tryOpen(r, "guest", "guest")
	took := time.Since(start)
	if !errors.Is(err, ErrBrokerUnavailable) {
		t.Fatalf("Open while the broker is down: %v, want ErrBrokerUnavailable", err)
	}
	if took > time.Second {
		t.Fatalf("Open while the broker is down took %v, want it to fail fast", took)
	}
	t.Logf("Open while the broker is down (%v): %v", took, err)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := r.Publish(ctx, "/topic/outage", nil, []byte("lost")); !errors.Is(err, ErrBrokerUnavailable) {
		t.Fatalf("Publish while the broker is down: %v, want ErrBrokerUnavailable", err)
	}

	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	ctx, cancel = context.WithTimeout(context.Background(), waitFor) // the restart took a while
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatalf("system connection did not come back: %v", err)
	}
	p := open(t, r, "guest", "guest")
	p.subscribe(t, "s", "/topic/outage")
	if err := r.Publish(ctx, "/topic/outage", nil, []byte("back")); err != nil {
		t.Fatal(err)
	}
	if m := p.next(t, stomp.CmdMessage); string(m.Body) != "back" {
		t.Fatalf("got %q after the broker came back, want back", m.Body)
	}
}

// TestBrokerSilent pauses the broker (its sockets stay open, it sends
// nothing): a session notices with ErrHeartbeatTimeout within three of the
// broker's heart-beat intervals (RabbitMQ rounds them up to 1 s).
func TestBrokerSilent(t *testing.T) {
	b := needBroker(t)
	o := testOptions(b.Addr())
	o.HeartbeatSend, o.HeartbeatReceive = 100*time.Millisecond, 100*time.Millisecond
	r := newRelay(t, o)
	p := open(t, r, "guest", "guest")
	p.forward(t, stomp.CmdSend, "destination", "/topic/silent", "receipt", "r", "body", "x")
	p.next(t, stomp.CmdReceipt)
	// With heart-beats every 100 ms from the relay, RabbitMQ (expecting
	// them every 1 s) keeps the session for longer than its own interval.
	select {
	case err := <-p.closed:
		t.Fatalf("session closed while both sides heart-beat: %v", err)
	case <-time.After(2500 * time.Millisecond):
	}

	if err := b.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	err := p.waitClosed(t, 10*time.Second)
	took := time.Since(paused)
	if err := b.Resume(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, ErrHeartbeatTimeout) || !errors.Is(err, ErrBrokerUnavailable) {
		t.Fatalf("closed with %v, want ErrHeartbeatTimeout and ErrBrokerUnavailable", err)
	}
	t.Logf("silence noticed after %v: %v", took.Round(time.Millisecond), err)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatalf("system connection did not come back after the pause: %v", err)
	}
}
