package transports

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/session"
)

// deadlineConn records the write deadline last set on it.
type deadlineConn struct {
	net.Conn
	mu       sync.Mutex
	wd       time.Time
	hijacked bool
	setOnce  sync.Once
	set      chan struct{} // closed once a write deadline is set after the hijack
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	_ = c.Conn.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wd = t
	hijacked := c.hijacked
	c.mu.Unlock()
	if hijacked && !t.IsZero() {
		c.setOnce.Do(func() { close(c.set) })
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) writeDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wd
}

// hijackResponse buffers what is written before Hijack, then hands over
// conn; deadlines go to conn, as net/http's do.
type hijackResponse struct {
	h        http.Header
	buf      bytes.Buffer
	conn     *deadlineConn
	hijacked bool // read by the handler's goroutine only
}

func (w *hijackResponse) Header() http.Header         { return w.h }
func (w *hijackResponse) WriteHeader(int)             {}
func (w *hijackResponse) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *hijackResponse) Flush()                      {}
func (w *hijackResponse) SetReadDeadline(time.Time) error {
	return nil
}

func (w *hijackResponse) SetWriteDeadline(t time.Time) error {
	if w.hijacked && t.IsZero() {
		// A clear after the hijack: let the stream's writer set its
		// deadline first, the order that loses it.
		<-w.conn.set
	}
	return w.conn.SetWriteDeadline(t)
}

func (w *hijackResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	w.conn.mu.Lock()
	w.conn.hijacked = true
	w.conn.mu.Unlock()
	return w.conn, nil, nil
}

// TestHijackedStreamKeepsWriteDeadline checks that the handler, returning
// after the hijack, leaves the write deadline the stream's writer set.
func TestHijackedStreamKeepsWriteDeadline(t *testing.T) {
	server, client := net.Pipe()
	conn := &deadlineConn{Conn: server, set: make(chan struct{})}
	s := session.New("x", session.Config{DisconnectDelay: time.Minute})
	t.Cleanup(func() {
		_ = client.Close()
		s.Expire(&session.CloseError{Code: 1000, Cause: session.ErrServerClosed})
	})
	w := &hijackResponse{h: http.Header{}, conn: conn}
	r := httptest.NewRequest(http.MethodPost, "/000/x/xhr_streaming", nil)
	allocConfig().XHRStreaming(oneSession{s}, w, r, "x")

	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	chunk := "2\r\no\n\r\n"
	b := make([]byte, len(chunk))
	if _, err := client.Read(b); err != nil || string(b) != chunk {
		t.Fatalf("read %q, %v; want the open frame's chunk %q", b, err, chunk)
	}
	if conn.writeDeadline().IsZero() {
		t.Fatal("the stream's write deadline was cleared; want it kept")
	}
}
