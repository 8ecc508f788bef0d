package transports

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/internal/frame"
	"github.com/sockline/sockline/session"
)

// Allocation benchmarks of the transports' write and read loops (issue 14,
// item 5), serving a session of their own rather than package sockjs's
// handler. Run with
//
//	go test -run '^$' -bench Alloc -benchmem ./transports
//
// The streaming benchmarks write to an in-memory response and count the
// server only. The websocket ones have a gorilla/websocket client in the
// same process, whose share is one allocation per websocket message it
// reads (NextReader's reader) or writes (NextWriter's writer).

const allocTransportMsg = `{"type":"chat","user":"ann","text":"hello world, how are you today?"}`

// oneSession is Sessions with one session for every id.
type oneSession struct{ s *session.Session }

func (o oneSession) Open(string, string, *http.Request) *session.Session           { return o.s }
func (o oneSession) OpenConnection(string, string, *http.Request) *session.Session { return o.s }
func (o oneSession) Lookup(string) (*session.Session, bool)                        { return o.s, true }

// allocTransportSession is a session that lives until the benchmark ends.
func allocTransportSession(b testing.TB) *session.Session {
	s := session.New("bench", session.Config{DisconnectDelay: time.Minute})
	b.Cleanup(func() { s.Expire(&session.CloseError{Code: 1000, Cause: session.ErrServerClosed}) })
	return s
}

// allocConfig is a transport configuration whose streams never reach
// their response limit.
func allocConfig() *Config {
	return &Config{ResponseLimit: 1 << 40, WriteTimeout: 10 * time.Second, MaxMessageBytes: 1 << 20, PongTimeout: 10 * time.Second}
}

// allocMarker is a part of allocTransportMsg that every envelope leaves as
// it is (htmlfile quotes the frame once more): counting it counts messages.
const allocMarker = "how are you today?"

// countingResponse is a streaming response in memory that counts the
// messages (occurrences of q) in each write.
type countingResponse struct {
	h     http.Header
	q     []byte
	wrote chan int // messages in each write
}

func (w *countingResponse) Header() http.Header              { return w.h }
func (w *countingResponse) WriteHeader(int)                  {}
func (w *countingResponse) Flush()                           {}
func (w *countingResponse) SetWriteDeadline(time.Time) error { return nil }
func (w *countingResponse) SetReadDeadline(time.Time) error  { return nil }
func (w *countingResponse) Write(p []byte) (int, error) {
	w.wrote <- bytes.Count(p, w.q)
	return len(p), nil
}

// awaitMessages waits until writes have carried n messages.
func awaitMessages(wrote <-chan int, n int) {
	for n > 0 {
		n -= <-wrote
	}
}

// streamingTransports are the streaming transports the benchmarks and
// tests serve.
var streamingTransports = []struct {
	name  string
	serve func(*Config, Sessions, http.ResponseWriter, *http.Request, string)
}{
	{NameXHRStreaming, (*Config).XHRStreaming},
	{NameEventSource, (*Config).EventSource},
	{NameHTMLFile, (*Config).HTMLFile},
}

// startStreaming serves a streaming transport for s, in memory, until the
// test ends, and returns the response once the prelude and the open frame
// are written.
func startStreaming(tb testing.TB, s *session.Session, serve func(*Config, Sessions, http.ResponseWriter, *http.Request, string), name string) *countingResponse {
	w := &countingResponse{h: http.Header{}, q: []byte(allocMarker), wrote: make(chan int, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequestWithContext(ctx, "GET", "/000/bench/"+name+"?c=cb", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(allocConfig(), oneSession{s}, w, r, "bench")
	}()
	tb.Cleanup(func() { cancel(); <-done })
	<-w.wrote // the prelude
	<-w.wrote // the open frame
	return w
}

// BenchmarkAllocStreaming is the streaming transports' write loop (Next,
// the envelope, the timed write and flush): n messages queued with
// SendQuoted, then written.
func BenchmarkAllocStreaming(b *testing.B) {
	q := frame.Quote(allocTransportMsg)
	for _, tr := range streamingTransports {
		for _, n := range []int{1, 16} {
			b.Run(tr.name+"/msgs="+strconv.Itoa(n), func(b *testing.B) {
				s := allocTransportSession(b)
				w := startStreaming(b, s, tr.serve, tr.name)
				b.ReportAllocs()
				m := countAllocs()
				for b.Loop() {
					for range n {
						if err := s.SendQuoted(q); err != nil {
							b.Fatal(err)
						}
					}
					awaitMessages(w.wrote, n)
				}
				m.report(b, n)
			})
		}
	}
}

// wsAllocBench is a websocket transport behind httptest, serving one
// session, with a gorilla/websocket client connected.
type wsAllocBench struct {
	s    *session.Session
	conn *websocket.Conn
	buf  []byte // the client's read buffer, reused
}

func startWSAllocBench(b *testing.B, raw bool) *wsAllocBench {
	b.Helper()
	w := &wsAllocBench{s: allocTransportSession(b)}
	c := allocConfig()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if raw {
			c.RawWebSocket(oneSession{w.s}, rw, r)
		} else {
			c.WebSocket(oneSession{w.s}, rw, r, "bench")
		}
	}))
	b.Cleanup(srv.Close)
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	w.conn = conn
	if !raw {
		if f := w.read(b); string(f) != "o" {
			b.Fatalf("first frame %q", f)
		}
	}
	return w
}

// read returns the client's next websocket message, in a reused buffer.
func (w *wsAllocBench) read(b *testing.B) []byte {
	_ = w.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, r, err := w.conn.NextReader()
	if err != nil {
		b.Fatal(err)
	}
	w.buf = w.buf[:0]
	for {
		if len(w.buf) == cap(w.buf) {
			w.buf = append(w.buf, 0)[:len(w.buf)]
		}
		n, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		if errors.Is(err, io.EOF) {
			return w.buf
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllocWebSocketTransport is the websocket transports' write loop
// (SendQuoted of n messages to the client's read; the raw websocket sends
// each message alone, the SockJS one batches) and read loop (the client's
// write of one message, or of 16 in one array, to Session.Recv).
func BenchmarkAllocWebSocketTransport(b *testing.B) {
	q := frame.Quote(allocTransportMsg)
	ctx := context.Background()
	for _, raw := range []bool{false, true} {
		name := NameWebSocket
		if raw {
			name = NameRawWebSocket
		}
		for _, n := range []int{1, 16} {
			b.Run(name+"/write/msgs="+strconv.Itoa(n), func(b *testing.B) {
				w := startWSAllocBench(b, raw)
				b.ReportAllocs()
				m := countAllocs()
				for b.Loop() {
					for range n {
						if err := w.s.SendQuoted(q); err != nil {
							b.Fatal(err)
						}
					}
					for got := 0; got < n; {
						f := w.read(b)
						if raw {
							got++
						} else {
							got += bytes.Count(f, q)
						}
					}
				}
				m.report(b, n)
			})
			if raw && n > 1 {
				continue // a raw websocket message is one message
			}
			b.Run(name+"/read/msgs="+strconv.Itoa(n), func(b *testing.B) {
				w := startWSAllocBench(b, raw)
				payload := []byte(allocTransportMsg)
				if !raw {
					payload = []byte("[" + strings.Repeat(string(q)+",", n-1) + string(q) + "]")
				}
				b.ReportAllocs()
				m := countAllocs()
				for b.Loop() {
					if err := w.conn.WriteMessage(websocket.TextMessage, payload); err != nil {
						b.Fatal(err)
					}
					for range n {
						if msg, err := w.s.Recv(ctx); err != nil || len(msg) != len(allocTransportMsg) {
							b.Fatalf("Recv %q, %v", msg, err)
						}
					}
				}
				m.report(b, n)
			})
		}
	}
}

// allocCount is the process's allocation count when a benchmark loop
// started; report turns it into allocs/msg.
type allocCount uint64

func countAllocs() allocCount {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return allocCount(ms.Mallocs)
}

// report adds the metric allocs/msg: allocations since countAllocs per
// message, each of the b.N operations carrying perOp messages. Call it
// right after the b.Loop loop.
func (c allocCount) report(b *testing.B, perOp int) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Mallocs-uint64(c))/float64(b.N*perOp), "allocs/msg")
}

// rewindBody is a request body that can be read again.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// headerResponse is a response that keeps only its header, cleared for
// every request.
type headerResponse struct {
	h    http.Header
	code int
}

func (w *headerResponse) Header() http.Header         { return w.h }
func (w *headerResponse) WriteHeader(code int)        { w.code = code }
func (w *headerResponse) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkAllocXHRSend is one xhr_send request of n messages (one JSON
// array body) handled by XHRSend, then n calls to Session.Recv. The
// request and the response are reused: what is counted is the transport's
// and the session's share, not net/http's.
func BenchmarkAllocXHRSend(b *testing.B) {
	q := frame.Quote(allocTransportMsg)
	ctx := context.Background()
	for _, n := range []int{1, 16} {
		b.Run("msgs="+strconv.Itoa(n), func(b *testing.B) {
			s := allocTransportSession(b)
			payload := []byte("[" + strings.Repeat(string(q)+",", n-1) + string(q) + "]")
			body := &rewindBody{}
			r := httptest.NewRequest("POST", "/000/bench/xhr_send", nil)
			r.Header.Set("Content-Type", "text/plain")
			r.Body, r.ContentLength = body, int64(len(payload))
			w := &headerResponse{h: http.Header{}}
			c := allocConfig()
			b.ReportAllocs()
			m := countAllocs()
			for b.Loop() {
				body.Reset(payload)
				clear(w.h)
				c.XHRSend(oneSession{s}, w, r, "bench")
				if w.code != http.StatusNoContent {
					b.Fatalf("status %d", w.code)
				}
				for range n {
					if _, err := s.Recv(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			m.report(b, n)
		})
	}
}
