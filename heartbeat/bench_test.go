package heartbeat

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

const bench100k = 100000

// pendingCases runs a benchmark on an empty wheel and on one already holding
// 100 000 pending timers an hour away (the scale the package is built for).
func pendingCases(b *testing.B, run func(b *testing.B, w *Wheel, pending []*Timer)) {
	for _, pending := range []int{0, bench100k} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			w := NewWheel(time.Millisecond)
			defer w.Close()
			timers := make([]*Timer, pending)
			for i := range timers {
				timers[i] = w.AfterFunc(time.Hour+time.Duration(i)*time.Millisecond, func() {})
			}
			// Keep the goroutine up so that arming never has to start it.
			keep := w.AfterFunc(time.Hour, func() {})
			defer keep.Stop()
			b.ReportAllocs()
			b.ResetTimer()
			run(b, w, timers)
		})
	}
}

func BenchmarkAfterFuncStop(b *testing.B) {
	f := func() {}
	pendingCases(b, func(b *testing.B, w *Wheel, _ []*Timer) {
		for i := 0; b.Loop(); i++ {
			w.AfterFunc(time.Duration(1+i%4096)*time.Millisecond, f).Stop()
		}
	})
}

func BenchmarkReset(b *testing.B) {
	pendingCases(b, func(b *testing.B, w *Wheel, pending []*Timer) {
		// Reset a random pending timer, as sessions would.
		ts := append(pending, w.AfterFunc(time.Hour, func() {}))
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; b.Loop(); i++ {
			ts[r.IntN(len(ts))].Reset(time.Hour + time.Duration(i%4096)*time.Millisecond)
		}
	})
}

// BenchmarkTick100k measures one tick of a wheel holding 100 000 timers
// spread uniformly over four revolutions: each tick scans one slot (about
// 195 entries) and fires about a quarter of them. Each fired timer is
// re-armed four revolutions on, as a heartbeat would be, so the load stays
// constant. The wheel is advanced by hand; no goroutine or clock is involved.
func BenchmarkTick100k(b *testing.B) {
	const spread = 4 * numSlots
	w := NewWheel(time.Millisecond)
	w.mu.Lock()
	for i := range bench100k {
		t := &Timer{w: w, pos: -1}
		t.f = func() {}
		w.insertLocked(t, w.cur+1+int64(i%spread))
	}
	w.mu.Unlock()
	var due []*Timer
	fired := 0
	b.ReportAllocs()
	for b.Loop() {
		w.mu.Lock()
		due = w.advanceLocked(w.cur+1, due[:0])
		w.mu.Unlock()
		for _, t := range due {
			t.f()
		}
		w.mu.Lock()
		for _, t := range due {
			w.insertLocked(t, t.due+spread)
		}
		w.mu.Unlock()
		fired += len(due)
	}
	b.ReportMetric(float64(fired)/float64(b.N), "fired/op")
	if w.Len() != bench100k {
		b.Fatalf("Len = %d", w.Len())
	}
}

// BenchmarkTimeAfterFunc100k is the peer: Go's runtime timers with 100 000
// time.AfterFunc timers pending, one per session.
//
//   - AfterFuncStop and Reset compare with BenchmarkAfterFuncStop and
//     BenchmarkReset at pending=100000.
//   - Fire arms timers due at once and waits until all ran: arm plus fire
//     per timer, including the goroutine time.AfterFunc starts for each
//     callback. Compare with BenchmarkTick100k's ns/op divided by fired/op.
func BenchmarkTimeAfterFunc100k(b *testing.B) {
	pending := make([]*time.Timer, bench100k)
	for i := range pending {
		pending[i] = time.AfterFunc(time.Hour+time.Duration(i)*time.Millisecond, func() {})
	}
	defer func() {
		for _, t := range pending {
			t.Stop()
		}
	}()
	f := func() {}

	b.Run("AfterFuncStop", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			time.AfterFunc(time.Duration(1+i%4096)*time.Millisecond, f).Stop()
		}
	})
	b.Run("Reset", func(b *testing.B) {
		b.ReportAllocs()
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; b.Loop(); i++ {
			pending[r.IntN(bench100k)].Reset(time.Hour + time.Duration(i%4096)*time.Millisecond)
		}
	})
	b.Run("Fire", func(b *testing.B) {
		b.ReportAllocs()
		var wg sync.WaitGroup
		done := func() { wg.Done() }
		for b.Loop() {
			wg.Add(1)
			time.AfterFunc(0, done)
		}
		wg.Wait()
	})
}
