package relay

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/stomp"
)

// fakeBroker accepts connections on a loopback port, answers CONNECT with
// CONNECTED carrying heartBeat (or not at all when silent), then hands the
// connection to serve with its number in accept order (0: the relay's
// system connection, which is dialed first). It exists for what a real broker cannot be made to
// do on demand: stop reading, never answer, count heart-beats.
type fakeBroker struct {
	ln        net.Listener
	heartBeat string
	silent    bool
	serve     func(i int, c net.Conn)
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     []net.Conn
}

func startFake(t *testing.T, heartBeat string, silent bool, serve func(int, net.Conn)) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBroker{ln: ln, heartBeat: heartBeat, silent: silent, serve: serve}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *fakeBroker) addr() string { return f.ln.Addr().String() }

func (f *fakeBroker) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		i := len(f.conns)
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.handle(i, c)
		}()
	}
}

func (f *fakeBroker) handle(i int, c net.Conn) {
	var d stomp.Decoder
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		d.Feed(buf[:n])
		if fr, _ := d.Next(); fr != nil {
			break
		}
		if err != nil {
			return
		}
	}
	if f.silent {
		_, _ = c.Read(buf) // until closed
		return
	}
	if _, err := c.Write([]byte("CONNECTED\nversion:1.2\nheart-beat:" + f.heartBeat + "\n\n\x00")); err != nil {
		return
	}
	f.serve(i, c)
}

func (f *fakeBroker) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// drain reads a connection until it ends.
func drain(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

func fakeOptions(addr string) Options {
	o := testOptions(addr)
	o.HeartbeatSend, o.HeartbeatReceive = -1, -1
	return o
}

// TestHeartbeatsSent: a relay asked for heart-beats every 50 ms sends EOLs
// to an otherwise idle broker at about that pace.
func TestHeartbeatsSent(t *testing.T) {
	beats := make(chan time.Time, 100)
	fb := startFake(t, "0,50", false, func(_ int, c net.Conn) {
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			for _, b := range buf[:n] {
				if b == '\n' {
					select {
					case beats <- time.Now():
					default:
					}
				}
			}
			if err != nil {
				return
			}
		}
	})
	o := fakeOptions(fb.addr())
	o.HeartbeatSend = 20 * time.Millisecond // the broker's 50 wins
	newRelay(t, o)
	// The median gap, so that a loaded machine's odd late timer does not
	// count.
	prev := <-beats
	var gaps []time.Duration
	for range 9 {
		select {
		case b := <-beats:
			gaps = append(gaps, b.Sub(prev))
			prev = b
		case <-time.After(2 * time.Second):
			t.Fatal("heart-beats stopped")
		}
	}
	slices.Sort(gaps)
	if gap := gaps[len(gaps)/2]; gap < 45*time.Millisecond || gap > 150*time.Millisecond {
		t.Fatalf("heart-beats every %v (median; all: %v), want about 50ms", gap, gaps)
	}
}

// TestConnectTimeout: a broker that accepts but never answers CONNECT makes
// the system connection fail after ConnectTimeout, and Open says so.
func TestConnectTimeout(t *testing.T) {
	fb := startFake(t, "", true, nil)
	o := fakeOptions(fb.addr())
	o.ConnectTimeout = 100 * time.Millisecond
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	_, err = tryOpen(r, "guest", "guest")
	if !errors.Is(err, ErrBrokerUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open: %v, want ErrBrokerUnavailable and a deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Open took %v with a 100ms ConnectTimeout", took)
	}
	t.Logf("Open against a broker that never answers: %v", err)
}

// TestQueueBound: a broker that stops reading fills the session's queue up
// to its bound in frames or in bytes; Forward then waits only as long as its
// context allows, and the write deadline ends the connection with a reason.
func TestQueueBound(t *testing.T) {
	for _, tc := range []struct {
		name           string
		frames, bytes  int
		wantFramesFull bool // the frame bound may be what holds Forward
	}{
		{"frames", 4, 1 << 30, true},
		{"bytes", 1000, 128 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stall := make(chan struct{})
			fb := startFake(t, "0,0", false, func(i int, c net.Conn) {
				if i > 0 { // a session's connection: never reads
					<-stall
				}
				drain(c)
			})
			defer close(stall)
			o := fakeOptions(fb.addr())
			o.MaxQueuedFrames, o.MaxQueuedBytes = tc.frames, tc.bytes
			o.WriteTimeout = 300 * time.Millisecond
			r := newRelay(t, o)
			p, err := tryOpen(r, "guest", "guest")
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			c := p.RelaySession.(*session).conn
			body := []byte(strings.Repeat("x", 64<<10))
			var sawFull bool
			var ferr error
			for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				ferr = p.Forward(ctx, &stomp.Frame{Command: stomp.CmdSend, Header: stomp.Header{{Key: "destination", Value: "/queue/q"}}, Body: body})
				cancel()
				if !errors.Is(ferr, context.DeadlineExceeded) {
					if ferr != nil {
						break
					}
					continue
				}
				c.queueMu.Lock()
				queued, frames := c.queuedBytes, len(c.out)
				c.queueMu.Unlock()
				if !sawFull {
					t.Logf("Forward to a stalled broker (%d bytes, %d frames queued): %v", queued, frames, ferr)
				}
				sawFull = true
				if queued > tc.bytes+len(body)+64 {
					t.Fatalf("%d bytes queued, past the bound of %d", queued, tc.bytes)
				}
				if !tc.wantFramesFull && frames == tc.frames {
					t.Fatalf("%d of %d frames queued when Forward waited: the byte bound was not what held it", frames, tc.frames)
				}
			}
			if !sawFull {
				t.Error("Forward never waited for room in the queue")
			}
			if !errors.Is(ferr, ErrBrokerUnavailable) {
				t.Fatalf("Forward once the write deadline passed: %v, want ErrBrokerUnavailable", ferr)
			}
			err = p.waitClosed(t, 5*time.Second)
			if !errors.Is(err, ErrBrokerUnavailable) || !strings.Contains(err.Error(), "did not read") {
				t.Fatalf("closed with %v, want the write deadline's reason", err)
			}
			t.Logf("closed: %v", err)
		})
	}
}

func TestParseHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		in     string
		sx, sy time.Duration
	}{
		{"0,0", 0, 0},
		{"1000,250", time.Second, 250 * time.Millisecond},
		{" 5 , 6 ", 5 * time.Millisecond, 6 * time.Millisecond},
		{"", 0, 0},
		{"10", 0, 0},
		{"-1,5", 0, 0},
		{"a,b", 0, 0},
	} {
		sx, sy := parseHeartbeat(tc.in)
		if sx != tc.sx || sy != tc.sy {
			t.Errorf("parseHeartbeat(%q) = %v, %v; want %v, %v", tc.in, sx, sy, tc.sx, tc.sy)
		}
	}
}

func FuzzParseHeartbeat(f *testing.F) {
	for _, s := range []string{"0,0", "1000,1000", "x", "1,", ",1", "99999999999999999999,1", "9223372036854775,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sx, sy := parseHeartbeat(s)
		if sx < 0 || sy < 0 {
			t.Fatalf("parseHeartbeat(%q) = %v, %v: negative", s, sx, sy)
		}
	})
}

// TestOptionsValidated: New refuses a missing or malformed Addr.
func TestOptionsValidated(t *testing.T) {
	for _, addr := range []string{"", "localhost"} {
		if _, err := New(Options{Addr: addr}); err == nil {
			t.Errorf("New with Addr %q: no error", addr)
		}
	}
}

// TestCloseBounded: closing a session whose broker stopped reading, with a
// write stuck under a long WriteTimeout, returns within about a second.
func TestCloseBounded(t *testing.T) {
	stall := make(chan struct{})
	fb := startFake(t, "0,0", false, func(i int, c net.Conn) {
		if i > 0 { // a session's connection: never reads
			<-stall
		}
		drain(c)
	})
	defer close(stall)
	o := fakeOptions(fb.addr())
	o.MaxQueuedFrames = 2
	r := newRelay(t, o) // WriteTimeout 10 s
	p, err := tryOpen(r, "guest", "guest")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("x", 512<<10))
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := p.Forward(ctx, &stomp.Frame{Command: stomp.CmdSend, Header: stomp.Header{{Key: "destination", Value: "/queue/q"}}, Body: body})
		cancel()
		if err != nil {
			break // the queue is full: the writer is stuck
		}
	}
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Close took %v with a stalled broker", took)
	}
}

// TestReconnectBackoff: the system connection is retried after
// ReconnectDelay, doubling up to MaxReconnectDelay, each failure logged.
func TestReconnectBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused
	delays := make(chan string, 100)
	o := fakeOptions(addr)
	o.ReconnectDelay, o.MaxReconnectDelay = 10*time.Millisecond, 40*time.Millisecond
	o.Logf = func(format string, args ...any) {
		if len(args) == 2 {
			if d, ok := args[1].(time.Duration); ok {
				delays <- d.String()
			}
		}
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := []string{"10ms", "20ms", "40ms", "40ms", "40ms"}
	for i, w := range want {
		select {
		case got := <-delays:
			if got != w {
				t.Fatalf("retry %d after %s, want %s", i+1, got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no retry %d", i+1)
		}
	}
}
