package sockjs_test

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
	"github.com/sockline/sockline/session"
	"github.com/sockline/sockline/sockjs"
)

// Allocation benchmarks of the public Session and of Handler.Broadcast
// (issue 14, item 5). Run with
//
//	go test -run '^$' -bench Alloc -benchmem ./sockjs
//
// The websocket benchmarks run a real handler behind httptest and a
// gorilla/websocket client in the same process: their allocs/op and
// allocs/msg count both ends (the client's share is a known 1-2 per
// websocket message; see benchmarks/ALLOCS.md for the split).

const allocBenchMsg = `{"type":"chat","user":"ann","text":"hello world, how are you today?"}`

// BenchmarkAllocBroadcast broadcasts one message to 1000 sessions per
// operation; each session has an attached receiver (as an xhr_streaming or
// websocket writer would) that then takes its frame, so queues stay in
// steady state. It reports allocs/delivery and ns/delivery.
func BenchmarkAllocBroadcast(b *testing.B) {
	const sessions = 1000
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, _ *sockjs.Session) { <-ctx.Done() })
	defer shutdownTB(b, h)
	ctx := context.Background()
	rcvs := make([]*session.Receiver, sessions)
	for i := range rcvs {
		id := "s" + strconv.Itoa(i)
		s := h.Open(id, "xhr_streaming", httptest.NewRequest("POST", "/000/"+id+"/xhr_streaming", nil))
		r, err := s.Attach(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(r.Detach)
		if f, err := r.Next(ctx); err != nil || f.Kind != session.KindOpen {
			b.Fatal(f.Kind, err)
		}
		rcvs[i] = r
	}
	b.ReportAllocs()
	m := countAllocsTB()
	for b.Loop() {
		h.Broadcast(allocBenchMsg)
		for _, r := range rcvs {
			if f, err := r.Next(ctx); err != nil || f.Kind != session.KindMessages {
				b.Fatal(f.Kind, err)
			}
		}
	}
	m.report(b, sessions, "allocs/delivery")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sessions), "ns/delivery")
}

// wsBench is a handler behind httptest with one SockJS websocket client
// connected; the application's Session arrives on sess.
type wsBench struct {
	conn *websocket.Conn
	sess *sockjs.Session
	got  chan string // messages the application received
	buf  []byte      // the client's read buffer, reused
}

func startWSBench(b *testing.B) *wsBench {
	b.Helper()
	w := &wsBench{got: make(chan string, 64)}
	sessC := make(chan *sockjs.Session, 1)
	h := sockjs.NewHandler(sockjs.Options{}, func(ctx context.Context, s *sockjs.Session) {
		sessC <- s
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				return
			}
			w.got <- m
		}
	})
	srv := httptest.NewServer(http.StripPrefix("/x", h))
	b.Cleanup(func() {
		srv.Close()
		shutdownTB(b, h)
	})
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/x/000/bench/websocket", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	w.conn = conn
	if f := w.read(b); string(f) != "o" {
		b.Fatalf("first frame %q", f)
	}
	w.sess = <-sessC
	return w
}

// read returns the client's next websocket message, in a reused buffer.
func (w *wsBench) read(b *testing.B) []byte {
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

// readMessages reads frames until n messages quoted as q have come.
func (w *wsBench) readMessages(b *testing.B, q []byte, n int) {
	for n > 0 {
		f := w.read(b)
		if len(f) == 0 || f[0] != 'a' {
			b.Fatalf("frame %q, want messages", f)
		}
		n -= bytes.Count(f, q)
	}
}

// BenchmarkAllocWebSocket measures a SockJS websocket through a real
// handler: the application's Send and SendMessage down to the client's
// read (1 and 16 messages per operation), and the client's write of one
// message (a 1-element array, as sockjs-client sends) or of 16 in one
// array up to the application's Recv.
func BenchmarkAllocWebSocket(b *testing.B) {
	q := []byte(`"` + strings.ReplaceAll(allocBenchMsg, `"`, `\"`) + `"`)
	msg := sockjs.NewMessage(allocBenchMsg)
	for _, n := range []int{1, 16} {
		b.Run("Send/msgs="+strconv.Itoa(n), func(b *testing.B) {
			w := startWSBench(b)
			b.ReportAllocs()
			m := countAllocsTB()
			for b.Loop() {
				for range n {
					if err := w.sess.Send(allocBenchMsg); err != nil {
						b.Fatal(err)
					}
				}
				w.readMessages(b, q, n)
			}
			m.report(b, n, "allocs/msg")
		})
		b.Run("SendMessage/msgs="+strconv.Itoa(n), func(b *testing.B) {
			w := startWSBench(b)
			b.ReportAllocs()
			m := countAllocsTB()
			for b.Loop() {
				for range n {
					if err := w.sess.SendMessage(msg); err != nil {
						b.Fatal(err)
					}
				}
				w.readMessages(b, q, n)
			}
			m.report(b, n, "allocs/msg")
		})
		b.Run("Recv/msgs="+strconv.Itoa(n), func(b *testing.B) {
			w := startWSBench(b)
			payload := []byte("[" + strings.Repeat(string(q)+",", n-1) + string(q) + "]")
			b.ReportAllocs()
			m := countAllocsTB()
			for b.Loop() {
				if err := w.conn.WriteMessage(websocket.TextMessage, payload); err != nil {
					b.Fatal(err)
				}
				for range n {
					if got := <-w.got; len(got) != len(allocBenchMsg) {
						b.Fatalf("application got %q", got)
					}
				}
			}
			m.report(b, n, "allocs/msg")
		})
	}
}

// shutdownTB shuts h down, failing b if that takes more than 5 seconds.
func shutdownTB(b testing.TB, h *sockjs.Handler) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		b.Error(err)
	}
}

// allocCount is the process's allocation count when a benchmark loop
// started; report turns it into a per-message metric.
type allocCount uint64

func countAllocsTB() allocCount {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return allocCount(ms.Mallocs)
}

// report adds the metric unit: allocations since countAllocsTB per
// message, each of the b.N operations carrying perOp messages. Call it
// right after the b.Loop loop.
func (c allocCount) report(b *testing.B, perOp int, unit string) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Mallocs-uint64(c))/float64(b.N*perOp), unit)
}
