package heartbeat

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestAdvanceStepByStep drives the wheel by hand, one tick at a time, and
// checks that each timer is collected exactly on its due tick, including
// timers several revolutions away.
func TestAdvanceStepByStep(t *testing.T) {
	w := NewWheel(time.Millisecond)
	byDue := map[int64][]*Timer{}
	w.mu.Lock()
	for due := int64(1); due <= 3*numSlots+5; due += 7 {
		for range 3 {
			tm := &Timer{w: w, f: func() {}, pos: -1}
			w.insertLocked(tm, due)
			byDue[due] = append(byDue[due], tm)
		}
	}
	total := w.n
	var buf []*Timer
	got := 0
	for k := int64(1); k <= 3*numSlots+5; k++ {
		buf = w.advanceLocked(k, buf[:0])
		if len(buf) != len(byDue[k]) {
			t.Fatalf("tick %d: collected %d, want %d", k, len(buf), len(byDue[k]))
		}
		for _, tm := range buf {
			if tm.due != k || tm.pos != -1 {
				t.Fatalf("tick %d: collected timer due %d pos %d", k, tm.due, tm.pos)
			}
		}
		got += len(buf)
	}
	w.mu.Unlock()
	if got != total || w.Len() != 0 {
		t.Fatalf("collected %d of %d, %d left", got, total, w.Len())
	}
}

// TestAdvanceCatchUp jumps over many ticks at once, as after a GC pause, and
// checks that every timer due by then is collected and no other.
func TestAdvanceCatchUp(t *testing.T) {
	for _, jump := range []int64{1, 5, numSlots - 1, numSlots, numSlots + 1, 700, 2000, 10 * numSlots} {
		w := NewWheel(time.Millisecond)
		w.mu.Lock()
		const last = 4*numSlots + 3
		for due := int64(1); due <= last; due++ {
			w.insertLocked(&Timer{w: w, f: func() {}, pos: -1}, due)
		}
		buf := w.advanceLocked(jump, nil)
		want := min(jump, last)
		if int64(len(buf)) != want {
			t.Errorf("jump %d: collected %d, want %d", jump, len(buf), want)
		}
		for _, tm := range buf {
			if tm.due > jump {
				t.Errorf("jump %d: collected timer due %d", jump, tm.due)
			}
		}
		if int64(w.n) != last-want {
			t.Errorf("jump %d: %d pending, want %d", jump, w.n, last-want)
		}
		w.mu.Unlock()
		checkInvariants(t, w)
	}
}

// The tests below run in a synctest bubble: the clock is fake, so they can
// check exact firing times, stalls and long idle periods without waiting.

func TestFakeClockExactTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const tick = time.Millisecond
		w := NewWheel(tick)
		defer w.Close()
		rev := numSlots * tick
		for _, d := range []time.Duration{
			0, tick / 2, tick, 3*tick + 1, rev - tick, rev, rev + tick, 3*rev + 17*tick, time.Minute,
		} {
			fired := make(chan time.Duration, 1)
			start := time.Now()
			w.AfterFunc(d, func() { fired <- time.Since(start) })
			want := max((d+tick-1)/tick*tick, tick)
			if got := <-fired; got != want {
				t.Errorf("d=%v: fired after %v, want %v", d, got, want)
			}
		}
	})
}

func TestFakeClockStallCatchUp(t *testing.T) {
	const tick = time.Millisecond
	for _, stall := range []time.Duration{50 * tick, 3*numSlots*tick + 7*tick} {
		t.Run(stall.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testStall(t, tick, stall) })
		})
	}
}

// testStall blocks the wheel goroutine for stall, as a long GC pause would,
// and checks that every timer due meanwhile fires on the first tick after it,
// and that later timers still wait for their deadline.
func testStall(t *testing.T, tick, stall time.Duration) {
	w := NewWheel(tick)
	defer w.Close()
	start := time.Now()
	w.AfterFunc(tick, func() { time.Sleep(stall) })
	type result struct{ d, e time.Duration }
	n := int(2 * stall / tick) // half due during the stall, half after it
	res := make(chan result, n+1)
	for i := range n {
		d := time.Duration(2+i) * tick
		w.AfterFunc(d, func() { res <- result{d, time.Since(start)} })
	}
	late := 5 * numSlots * tick
	w.AfterFunc(late, func() { res <- result{late, time.Since(start)} })
	for range n + 1 {
		r := <-res
		if r.e < r.d {
			t.Fatalf("d=%v fired early, after %v", r.d, r.e)
		}
		if r.d <= stall && r.e > tick+stall+tick {
			t.Fatalf("d=%v fired after %v, want the first tick after the stall", r.d, r.e)
		}
		if r.d > stall+tick && r.e != r.d {
			t.Fatalf("d=%v fired after %v, want on time", r.d, r.e)
		}
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d", w.Len())
	}
}

func TestFakeClockRestartAfterIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const tick = 10 * time.Millisecond
		w := NewWheel(tick)
		defer w.Close()
		fired := make(chan time.Duration, 1)
		for _, idle := range []time.Duration{0, tick / 3, time.Second, time.Hour} {
			time.Sleep(idle)
			synctest.Wait() // the wheel goroutine has exited or waits on its ticker
			start := time.Now()
			w.AfterFunc(5*tick, func() { fired <- time.Since(start) })
			if e := <-fired; e < 5*tick || e > 7*tick {
				t.Errorf("idle %v: fired after %v, want about %v", idle, e, 5*tick)
			}
		}
	})
}
