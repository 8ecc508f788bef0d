package session

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sockline/sockline/internal/frame"
)

// Allocation benchmarks of a session's send and receive paths (issue 14,
// item 5), in steady state: the receiver attached and its buffers grown.
// Run with
//
//	go test -run '^$' -bench Alloc -benchmem ./session
//
// Each reports allocs/msg besides allocs/op: an operation carries 1 or 16
// messages.

const allocMsg = `{"type":"chat","user":"ann","text":"hello world, how are you today?"}`

// allocSession returns a session on a manual scheduler (no timer fires by
// itself) with an attached receiver that has taken the open frame.
func allocSession(b testing.TB, cfg Config) (*Session, *Receiver) {
	b.Helper()
	if cfg.DisconnectDelay == 0 {
		cfg.DisconnectDelay = time.Minute
	}
	cfg.Scheduler = &manualScheduler{}
	s := New("bench", cfg)
	r, err := s.Attach(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if f, err := r.Next(context.Background()); err != nil || f.Kind != KindOpen {
		b.Fatalf("first frame %v, %v", f.Kind, err)
	}
	b.Cleanup(func() {
		r.Detach()
		s.Expire(&CloseError{Code: 1000, Cause: ErrServerClosed})
	})
	return s, r
}

// BenchmarkAllocSend is the send path of the framed transports: n calls to
// Send (which quotes) or SendQuoted (already quoted, as a broadcast does),
// then one Next that builds the "a" frame.
func BenchmarkAllocSend(b *testing.B) {
	q := frame.Quote(allocMsg)
	for _, n := range []int{1, 16} {
		b.Run("Send/msgs="+strconv.Itoa(n), func(b *testing.B) {
			s, r := allocSession(b, Config{})
			ctx := context.Background()
			b.ReportAllocs()
			m := countAllocs()
			for b.Loop() {
				for range n {
					if err := s.Send(allocMsg); err != nil {
						b.Fatal(err)
					}
				}
				if f, err := r.Next(ctx); err != nil || f.Kind != KindMessages {
					b.Fatal(f.Kind, err)
				}
			}
			m.report(b, n)
		})
		b.Run("SendQuoted/msgs="+strconv.Itoa(n), func(b *testing.B) {
			s, r := allocSession(b, Config{})
			ctx := context.Background()
			b.ReportAllocs()
			m := countAllocs()
			for b.Loop() {
				for range n {
					if err := s.SendQuoted(q); err != nil {
						b.Fatal(err)
					}
				}
				if f, err := r.Next(ctx); err != nil || f.Kind != KindMessages {
					b.Fatal(f.Kind, err)
				}
			}
			m.report(b, n)
		})
	}
}

// BenchmarkAllocSendRaw is the raw websocket's send path: SendQuoted, then
// NextMessages, which hands over the queue without building a frame.
func BenchmarkAllocSendRaw(b *testing.B) {
	q := frame.Quote(allocMsg)
	for _, n := range []int{1, 16} {
		b.Run("msgs="+strconv.Itoa(n), func(b *testing.B) {
			s, r := allocSession(b, Config{})
			ctx := context.Background()
			b.ReportAllocs()
			m := countAllocs()
			for b.Loop() {
				for range n {
					if err := s.SendQuoted(q); err != nil {
						b.Fatal(err)
					}
				}
				if f, err := r.NextMessages(ctx); err != nil || len(f.Messages) != n {
					b.Fatal(f.Kind, err)
				}
			}
			m.report(b, n)
		})
	}
}

// BenchmarkAllocReceive is the receive path: a websocket reader's Deliver
// of n messages (already decoded: their strings exist), then n calls to
// Recv by the application.
func BenchmarkAllocReceive(b *testing.B) {
	for _, n := range []int{1, 16} {
		for _, limit := range []int{0, 1 << 20} {
			b.Run("msgs="+strconv.Itoa(n)+"/maxInbox="+strconv.Itoa(limit), func(b *testing.B) {
				s, _ := allocSession(b, Config{MaxInboxBytes: limit})
				ctx := context.Background()
				msgs := make([]string, n)
				for i := range msgs {
					msgs[i] = allocMsg
				}
				b.ReportAllocs()
				m := countAllocs()
				for b.Loop() {
					if err := s.Deliver(ctx, msgs); err != nil {
						b.Fatal(err)
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
}

// BenchmarkAllocHTTPSend is the receive path of xhr_send: BeginSend,
// Deliver of n messages, End, then n calls to Recv.
func BenchmarkAllocHTTPSend(b *testing.B) {
	for _, n := range []int{1, 16} {
		b.Run("msgs="+strconv.Itoa(n), func(b *testing.B) {
			s, _ := allocSession(b, Config{})
			ctx := context.Background()
			msgs := make([]string, n)
			for i := range msgs {
				msgs[i] = allocMsg
			}
			b.ReportAllocs()
			m := countAllocs()
			for b.Loop() {
				snd, err := s.BeginSend(ctx, n*len(allocMsg))
				if err != nil {
					b.Fatal(err)
				}
				if err := snd.Deliver(ctx, msgs); err != nil {
					b.Fatal(err)
				}
				snd.End()
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

// BenchmarkAllocHeartbeat is an idle receiver's timer: the session's
// timer function finds a heartbeat (or ping) due and Next takes it.
func BenchmarkAllocHeartbeat(b *testing.B) {
	b.Run("heartbeat", func(b *testing.B) {
		s, r := allocSession(b, Config{HeartbeatDelay: time.Nanosecond})
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			s.onTimer()
			if f, err := r.Next(ctx); err != nil || f.Kind != KindHeartbeat {
				b.Fatal(f.Kind, err)
			}
		}
	})
	b.Run("ping", func(b *testing.B) {
		s, r := allocSession(b, Config{PingInterval: time.Nanosecond})
		r.EnablePings()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			s.onTimer()
			if f, err := r.Next(ctx); err != nil || f.Kind != KindPing {
				b.Fatal(f.Kind, err)
			}
		}
	})
}

// BenchmarkAllocPoll is one xhr polling round: Attach, NextAndDetach of
// one message, Detach. Every poll is a new Receiver.
func BenchmarkAllocPoll(b *testing.B) {
	s, r := allocSession(b, Config{})
	r.Detach()
	q := frame.Quote(allocMsg)
	ctx := context.Background()
	b.ReportAllocs()
	m := countAllocs()
	for b.Loop() {
		if err := s.SendQuoted(q); err != nil {
			b.Fatal(err)
		}
		r, err := s.Attach(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if f, err := r.NextAndDetach(ctx); err != nil || f.Kind != KindMessages {
			b.Fatal(f.Kind, err)
		}
		r.Detach()
	}
	m.report(b, 1)
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
