package stomp

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipe is an in-memory transport: what a SockJS session gives the server,
// with a bounded outbound queue that fails when full, as a session does.
type pipe struct {
	in     chan string
	out    chan string
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	code   int
	reason string
}

var errPipeClosed = errors.New("pipe closed")

func newPipe(outCap int) *pipe {
	return &pipe{in: make(chan string, 64), out: make(chan string, outCap), closed: make(chan struct{})}
}

func (p *pipe) Recv(ctx context.Context) (string, error) {
	select {
	case m := <-p.in:
		return m, nil
	case <-p.closed:
		return "", errPipeClosed
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (p *pipe) Send(msg string) error {
	select {
	case <-p.closed:
		return errPipeClosed
	default:
	}
	select {
	case p.out <- msg:
		return nil
	default:
		p.Close(1008, "Send queue overflow")
		return errPipeClosed
	}
}

func (p *pipe) Close(code int, reason string) error {
	p.once.Do(func() {
		p.mu.Lock()
		p.code, p.reason = code, reason
		p.mu.Unlock()
		close(p.closed)
	})
	return nil
}

func (p *pipe) closeCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code
}

// client is a test STOMP client on a pipe.
type client struct {
	t    testing.TB
	p    *pipe
	dec  Decoder
	got  []*Frame
	done chan struct{} // closed when the server's serve returns
}

const waitFor = 10 * time.Second

// dial starts a connection on srv (not yet CONNECTed).
func dial(t *testing.T, srv *Server) *client {
	t.Helper()
	return dialCap(t, srv, 10000)
}

func dialCap(t *testing.T, srv *Server, outCap int) *client {
	t.Helper()
	c := &client{t: t, p: newPipe(outCap), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(c.done)
		srv.serve(ctx, c.p, &ConnectRequest{Transport: "test"})
	}()
	t.Cleanup(func() {
		cancel()
		c.p.Close(1000, "test over")
		<-c.done
	})
	return c
}

// connect dials and CONNECTs as login ("" for none).
func connect(t *testing.T, srv *Server, login string) *client {
	t.Helper()
	c := dial(t, srv)
	h := []string{"accept-version", "1.2", "heart-beat", "0,0"}
	if login != "" {
		h = append(h, "login", login)
	}
	c.send("CONNECT", "", h...)
	c.expect("CONNECTED")
	return c
}

// send writes one frame as one message.
func (c *client) send(cmd, body string, kv ...string) {
	c.t.Helper()
	f := &Frame{Command: cmd, Body: []byte(body)}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Header.Add(kv[i], kv[i+1])
	}
	b, err := Encode(f)
	if err != nil {
		c.t.Fatal(err)
	}
	c.raw(string(b))
}

func (c *client) raw(s string) {
	c.t.Helper()
	select {
	case c.p.in <- s:
	case <-time.After(waitFor):
		c.t.Fatal("server does not read")
	}
}

// next returns the next frame from the server, skipping heart-beats.
func (c *client) next() *Frame {
	c.t.Helper()
	f, ok := c.tryNext(waitFor)
	if !ok {
		c.t.Fatal("no frame from the server")
	}
	return f
}

// tryNext waits up to d for a frame; false on timeout or close.
func (c *client) tryNext(d time.Duration) (*Frame, bool) {
	c.t.Helper()
	timeout := time.After(d)
	for {
		if f, err := c.dec.Next(); err != nil {
			c.t.Fatalf("server sent a malformed frame: %v", err)
		} else if f != nil {
			c.got = append(c.got, f)
			return f, true
		}
		select {
		case m := <-c.p.out:
			c.dec.Feed([]byte(m))
		case <-timeout:
			return nil, false
		}
	}
}

// expect reads the next frame and checks its command.
func (c *client) expect(cmd string) *Frame {
	c.t.Helper()
	f := c.next()
	if f.Command != cmd {
		c.t.Fatalf("got %s %v %q, want %s", f.Command, f.Header, f.Body, cmd)
	}
	return f
}

// expectError reads an ERROR whose message contains want and checks that
// the connection then closes with CloseProtocolError.
func (c *client) expectError(want string) *Frame {
	c.t.Helper()
	f := c.expect("ERROR")
	if !strings.Contains(f.Header.Get("message"), want) {
		c.t.Fatalf("ERROR message %q, want it to contain %q", f.Header.Get("message"), want)
	}
	c.expectClosed(CloseProtocolError)
	return f
}

func (c *client) expectClosed(code int) {
	c.t.Helper()
	select {
	case <-c.p.closed:
	case <-time.After(waitFor):
		c.t.Fatal("connection not closed")
	}
	if got := c.p.closeCode(); got != code {
		c.t.Fatalf("close code %d, want %d", got, code)
	}
}

// quiet checks that no frame arrives for a short while.
func (c *client) quiet() {
	c.t.Helper()
	if f, ok := c.tryNext(100 * time.Millisecond); ok {
		c.t.Fatalf("unexpected %s %v %q", f.Command, f.Header, f.Body)
	}
}

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s := NewServer(cfg)
	t.Cleanup(func() { s.Close() })
	return s
}
