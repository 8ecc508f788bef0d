package heartbeat

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/sockline/sockline/session"
)

// sessionScheduler adapts a Wheel to session.Scheduler, as package sockjs does.
type sessionScheduler struct{ w *Wheel }

func (s sessionScheduler) AfterFunc(d time.Duration, f func()) session.Timer {
	return s.w.AfterFunc(d, f)
}

// BenchmarkSessions100k builds 100 000 real sessions, each with a receiver
// attached (a connected client), on one wheel, and reports:
//
//   - goroutines: goroutines added for all of them (the wheel's one; a
//     timer per session would add none either, but a goroutine per session
//     would add 100 000);
//   - heap-B/session: live heap per session (session, receiver, timer);
//   - ns/op: one tick of the wheel in which 1 000 sessions (1%) have a
//     heartbeat due and run their real callback (set the heartbeat, wake the
//     receiver, re-arm), while the slot scan passes over the others.
//
// The wheel is advanced by hand so that one op is exactly one tick; its tick
// is an hour so that its own goroutine never competes.
func BenchmarkSessions100k(b *testing.B) {
	const n, hot = 100000, 1000
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()

	w := NewWheel(time.Hour)
	defer w.Close()
	sched := sessionScheduler{w}
	ctx := context.Background()
	sessions := make([]*session.Session, n)
	for i := range sessions {
		hb := time.Duration(100000+i%numSlots) * time.Hour // cold: spread over the ring, never due here
		if i%(n/hot) == 0 {
			hb = time.Nanosecond // hot: due on every tick
		}
		s := session.New("s", session.Config{HeartbeatDelay: hb, DisconnectDelay: time.Hour, Scheduler: sched})
		if _, err := s.Attach(ctx); err != nil {
			b.Fatal(err)
		}
		sessions[i] = s
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	goroutines := runtime.NumGoroutine() - g0
	heapPerSession := float64(after.HeapAlloc-before.HeapAlloc) / n

	var due []*Timer
	fired := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.mu.Lock()
		due = w.advanceLocked(w.cur+1, due[:0])
		w.mu.Unlock()
		for _, t := range due {
			t.f()
		}
		fired += len(due)
	}
	b.StopTimer()
	b.ReportMetric(float64(fired)/float64(b.N), "fired/op")
	b.ReportMetric(float64(goroutines), "goroutines")
	b.ReportMetric(heapPerSession, "heap-B/session")
	runtime.KeepAlive(sessions)
}
