package heartbeat

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testTick = time.Millisecond
	waitFor  = 10 * time.Second // generous: only a broken wheel takes this long
)

// wait fails the test unless ch is closed or receives within waitFor.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// barrier arms a timer due after every timer armed so far with deadline
// <= d and waits for it. Ticks are processed in order, so once it has fired
// every earlier timer has fired too.
func barrier(t *testing.T, w *Wheel, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	w.AfterFunc(d+5*w.tick, func() { close(done) })
	wait(t, done, "barrier timer")
}

// waitNoGoroutine polls until the goroutine count drops to base or less.
func waitNoGoroutine(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d, want <= %d", runtime.NumGoroutine(), base)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// checkInvariants verifies the slots against the timers and the count.
func checkInvariants(t *testing.T, w *Wheel) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for i, s := range w.slots {
		for j, e := range s {
			n++
			if e.t.pos != j || e.t.due != e.due || int(e.due&slotMask) != i {
				t.Fatalf("slot %d entry %d: pos %d due %d/%d", i, j, e.t.pos, e.t.due, e.due)
			}
		}
	}
	if n != w.n {
		t.Fatalf("entries %d, count %d", n, w.n)
	}
}

func TestNewWheelPanics(t *testing.T) {
	for _, tick := range []time.Duration{0, -time.Second} {
		func() {
			defer func() {
				if r := recover(); r != "heartbeat: tick must be positive" {
					t.Errorf("NewWheel(%v): recovered %v", tick, r)
				}
			}()
			NewWheel(tick)
		}()
	}
}

func TestFiresOnceNotEarly(t *testing.T) {
	w := NewWheel(testTick)
	defer w.Close()
	for _, d := range []time.Duration{0, testTick / 2, 3 * testTick, 20 * time.Millisecond} {
		var n atomic.Int32
		elapsed := make(chan time.Duration, 2)
		start := time.Now()
		tm := w.AfterFunc(d, func() {
			n.Add(1)
			elapsed <- time.Since(start)
		})
		select {
		case e := <-elapsed:
			if e < d-testTick {
				t.Errorf("d=%v: fired after %v", d, e)
			}
		case <-time.After(waitFor):
			t.Fatalf("d=%v: never fired", d)
		}
		barrier(t, w, d)
		if got := n.Load(); got != 1 {
			t.Errorf("d=%v: fired %d times", d, got)
		}
		if tm.Stop() {
			t.Errorf("d=%v: Stop after fire returned true", d)
		}
	}
}

func TestStopBeforeFire(t *testing.T) {
	w := NewWheel(testTick)
	defer w.Close()
	var fired atomic.Bool
	// Long enough to be pending still when Stop runs, however slow the
	// machine; the barrier below waits it out.
	tm := w.AfterFunc(time.Second, func() { fired.Store(true) })
	if w.Len() != 1 {
		t.Fatalf("Len = %d, want 1", w.Len())
	}
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if tm.Stop() {
		t.Fatal("second Stop returned true")
	}
	if w.Len() != 0 {
		t.Fatalf("Len after Stop = %d", w.Len())
	}
	barrier(t, w, time.Second)
	if fired.Load() {
		t.Fatal("stopped timer fired")
	}
}

func TestResetMoves(t *testing.T) {
	w := NewWheel(testTick)
	defer w.Close()

	// Earlier: from an hour to 5ms.
	fired := make(chan time.Duration, 1)
	start := time.Now()
	tm := w.AfterFunc(time.Hour, func() { fired <- time.Since(start) })
	if !tm.Reset(5 * time.Millisecond) {
		t.Fatal("Reset of a pending timer returned false")
	}
	select {
	case e := <-fired:
		if e < 5*time.Millisecond-testTick {
			t.Fatalf("fired after %v, want >= 5ms", e)
		}
	case <-time.After(waitFor):
		t.Fatal("reset timer never fired")
	}

	// Later: from 20ms to 60ms; it must not fire at the first deadline.
	start2 := time.Now()
	tm2 := w.AfterFunc(20*time.Millisecond, func() { fired <- time.Since(start2) })
	if !tm2.Reset(60 * time.Millisecond) {
		t.Skip("machine too slow: the 20ms timer fired before Reset")
	}
	select {
	case e := <-fired:
		if e < 60*time.Millisecond-testTick {
			t.Fatalf("fired after %v, want >= 60ms", e)
		}
	case <-time.After(waitFor):
		t.Fatal("reset timer never fired")
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d", w.Len())
	}
}

func TestResetAfterFireAndStop(t *testing.T) {
	w := NewWheel(testTick)
	defer w.Close()
	fired := make(chan struct{}, 1)
	tm := w.AfterFunc(time.Millisecond, func() { fired <- struct{}{} })
	wait(t, fired, "first fire")
	if tm.Reset(2 * time.Millisecond) {
		t.Fatal("Reset after fire returned true")
	}
	wait(t, fired, "fire after Reset")

	tm.Reset(time.Hour)
	if !tm.Stop() {
		t.Fatal("Stop returned false")
	}
	if tm.Reset(2 * time.Millisecond) {
		t.Fatal("Reset after Stop returned true")
	}
	wait(t, fired, "fire after Stop and Reset")
}

func TestManyTimers(t *testing.T) {
	const n = 10000
	w := NewWheel(testTick)
	defer w.Close()
	counts := make([]atomic.Int32, n)
	var left atomic.Int32
	left.Store(n)
	done := make(chan struct{})
	max := 50 * time.Millisecond
	for i := range n {
		w.AfterFunc(rand.N(max), func() {
			counts[i].Add(1)
			if left.Add(-1) == 0 {
				close(done)
			}
		})
	}
	wait(t, done, "10 000 timers")
	barrier(t, w, max)
	for i := range counts {
		if c := counts[i].Load(); c != 1 {
			t.Fatalf("timer %d fired %d times", i, c)
		}
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d", w.Len())
	}
}

func TestBeyondOneRevolution(t *testing.T) {
	w := NewWheel(testTick)
	defer w.Close()
	rev := numSlots * testTick
	ds := []time.Duration{rev - 3*testTick, rev + 20*testTick, 2*rev + 7*testTick}
	type result struct {
		d, e time.Duration
	}
	res := make(chan result, len(ds))
	start := time.Now()
	for _, d := range ds {
		w.AfterFunc(d, func() { res <- result{d, time.Since(start)} })
	}
	for range ds {
		select {
		case r := <-res:
			if r.e < r.d-testTick {
				t.Errorf("d=%v fired after %v", r.d, r.e)
			}
		case <-time.After(waitFor):
			t.Fatal("timers did not fire")
		}
	}
}

func TestCallbackRearmsItself(t *testing.T) {
	w := NewWheel(testTick)
	defer w.Close()
	done := make(chan struct{})
	var n int // only touched by the wheel goroutine
	var tm *Timer
	tm = w.AfterFunc(time.Hour, func() {
		n++
		if n == 5 {
			close(done)
			return
		}
		if tm.Reset(2 * time.Millisecond) {
			t.Error("Reset from own callback returned true")
		}
	})
	tm.Reset(2 * time.Millisecond) // publishes tm before the first fire
	wait(t, done, "five re-armed fires")
}

func TestConcurrentOps(t *testing.T) {
	w := NewWheel(testTick)
	defer w.Close()
	shared := make([]*Timer, 64)
	var fires atomic.Int64
	for i := range shared {
		shared[i] = w.AfterFunc(time.Hour, func() { fires.Add(1) })
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var own []*Timer
			for range 2000 {
				d := time.Duration(r.IntN(5000)) * time.Microsecond
				switch r.IntN(5) {
				case 0:
					own = append(own, w.AfterFunc(d, func() { fires.Add(1) }))
				case 1:
					shared[r.IntN(len(shared))].Stop()
				case 2:
					shared[r.IntN(len(shared))].Reset(d)
				case 3:
					if len(own) > 0 {
						own[r.IntN(len(own))].Reset(d)
					}
				case 4:
					if len(own) > 0 {
						own[r.IntN(len(own))].Stop()
					}
					_ = w.Len()
				}
			}
			for _, tm := range own {
				tm.Stop()
			}
		})
	}
	wg.Wait()
	for _, tm := range shared {
		tm.Stop()
	}
	checkInvariants(t, w)
	if w.Len() != 0 {
		t.Fatalf("Len = %d after stopping everything", w.Len())
	}
	if fires.Load() == 0 {
		t.Log("no timer fired during the run") // possible, not an error
	}
}

func TestGoroutineExitsWhenIdle(t *testing.T) {
	base := runtime.NumGoroutine()
	w := NewWheel(testTick)
	if runtime.NumGoroutine() != base {
		t.Fatal("NewWheel started a goroutine")
	}
	for round := range 3 {
		done := make(chan struct{})
		var left atomic.Int32
		left.Store(100)
		for range 100 {
			w.AfterFunc(time.Duration(rand.IntN(5))*time.Millisecond, func() {
				if left.Add(-1) == 0 {
					close(done)
				}
			})
		}
		wait(t, done, "timers")
		waitNoGoroutine(t, base)

		// Stopping the last pending timer also lets the goroutine go.
		w.AfterFunc(time.Hour, func() {}).Stop()
		waitNoGoroutine(t, base)
		_ = round
	}
}

func TestClose(t *testing.T) {
	base := runtime.NumGoroutine()
	w := NewWheel(testTick)
	var fired atomic.Int32
	timers := make([]*Timer, 100)
	for i := range timers {
		// Due in a second or more: none can fire before Close below.
		timers[i] = w.AfterFunc(time.Second+time.Duration(i)*time.Millisecond, func() { fired.Add(1) })
	}
	w.Close()
	w.Close() // idempotent
	if w.Len() != 0 {
		t.Fatalf("Len after Close = %d", w.Len())
	}
	for _, tm := range timers {
		if tm.Stop() {
			t.Fatal("Stop after Close returned true")
		}
		if tm.Reset(time.Millisecond) {
			t.Fatal("Reset after Close returned true")
		}
	}
	late := w.AfterFunc(0, func() { fired.Add(1) })
	if late.Stop() || w.Len() != 0 {
		t.Fatal("AfterFunc after Close armed a timer")
	}
	// Only the wheel goroutine runs callbacks; once it is gone with nothing
	// pending, nothing can fire.
	waitNoGoroutine(t, base)
	if n := fired.Load(); n != 0 {
		t.Fatalf("%d timers fired after Close", n)
	}
}

func TestCloseFromCallback(t *testing.T) {
	base := runtime.NumGoroutine()
	w := NewWheel(testTick)
	done := make(chan struct{})
	w.AfterFunc(time.Hour, func() { t.Error("pending timer fired after Close") })
	w.AfterFunc(time.Millisecond, func() {
		w.Close()
		close(done)
	})
	wait(t, done, "closing callback")
	waitNoGoroutine(t, base)
}

func TestStopZeroTimer(t *testing.T) {
	var tm Timer
	if tm.Stop() {
		t.Fatal("Stop on zero Timer returned true")
	}
}
