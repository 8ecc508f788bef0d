package relay

import (
	"context"
	"testing"
	"time"

	"github.com/sockline/sockline/stomp"
)

// waitFor bounds every wait of the tests.
const waitFor = 15 * time.Second

// testOptions are fast-reconnecting options for the shared broker.
func testOptions(addr string) Options {
	return Options{
		Addr:              addr,
		ReconnectDelay:    50 * time.Millisecond,
		MaxReconnectDelay: 500 * time.Millisecond,
		Logf:              func(string, ...any) {},
	}
}

// newRelay starts a relay on the shared broker, waits for its system
// connection, and closes it when t ends.
func newRelay(t testing.TB, o Options) *Relay {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// probe is one client session: what the broker delivers, and why it closed.
type probe struct {
	RelaySession
	frames chan *stomp.Frame
	closed chan error
}

// open opens a session with login/passcode and closes it when t ends.
func open(t testing.TB, r *Relay, login, passcode string) *probe {
	t.Helper()
	p, err := tryOpen(r, login, passcode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func tryOpen(r *Relay, login, passcode string) (*probe, error) {
	p := &probe{frames: make(chan *stomp.Frame, 4096), closed: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	s, err := r.Open(ctx, login, passcode, func(f *stomp.Frame) {
		select {
		case p.frames <- f:
		default:
			panic("probe: more frames than the test expects")
		}
	}, func(err error) { p.closed <- err })
	if err != nil {
		return nil, err
	}
	p.RelaySession = s
	return p, nil
}

// forward sends one frame, failing t on error.
func (p *probe) forward(t testing.TB, cmd string, kv ...string) {
	t.Helper()
	f := &stomp.Frame{Command: cmd}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Header.Add(kv[i], kv[i+1])
	}
	if cmd == stomp.CmdSend {
		f.Body = []byte(f.Header.Get("body"))
		f.Header.Del("body")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := p.Forward(ctx, f); err != nil {
		t.Fatalf("Forward %s: %v", cmd, err)
	}
}

// next returns the next delivered frame and checks its command.
func (p *probe) next(t testing.TB, cmd string) *stomp.Frame {
	t.Helper()
	select {
	case f := <-p.frames:
		if f.Command != cmd {
			t.Fatalf("got %s %v %q, want %s", f.Command, f.Header, f.Body, cmd)
		}
		return f
	case err := <-p.closed:
		t.Fatalf("session closed while waiting for %s: %v", cmd, err)
	case <-time.After(waitFor):
		t.Fatalf("no %s within %v", cmd, waitFor)
	}
	return nil
}

// subscribe subscribes with a receipt and waits for it, so that the broker
// has bound the subscription before anything is sent.
func (p *probe) subscribe(t testing.TB, id, dest string, kv ...string) {
	t.Helper()
	p.forward(t, stomp.CmdSubscribe, append([]string{"id", id, "destination", dest, "receipt", "sub-" + id}, kv...)...)
	if got := p.next(t, stomp.CmdReceipt).Header.Get(stomp.HdrReceiptID); got != "sub-"+id {
		t.Fatalf("receipt-id %q, want sub-%s", got, id)
	}
}
