package heartbeat

import (
	"math"
	"sync"
	"time"
)

// numSlots is the size of the ring. A deadline further away than one
// revolution (numSlots ticks) stays in its slot and is skipped until the
// revolution in which it falls due.
const (
	numSlots = 512
	slotMask = numSlots - 1
)

// entry is one pending timer in a slot. The due tick is kept next to the
// pointer so that scanning a slot reads contiguous memory and dereferences
// only the timers that fire.
type entry struct {
	due int64
	t   *Timer
}

// Wheel is a hashed timing wheel: one goroutine and one ticker serve every
// timer armed on it. Create one with [NewWheel]; the zero value is not usable.
// All methods are safe for concurrent use.
type Wheel struct {
	tick  time.Duration
	start time.Time     // epoch: tick k is due at start + k*tick
	done  chan struct{} // closed by Close

	mu      sync.Mutex
	slots   [numSlots][]entry
	cur     int64 // last tick processed
	n       int   // pending timers
	running bool  // the goroutine is up (or about to start)
	closed  bool
}

// NewWheel returns a wheel whose resolution is tick: timers fire on the
// first tick at or after their deadline. It panics if tick is not positive.
// The wheel starts no goroutine until a timer is armed.
func NewWheel(tick time.Duration) *Wheel {
	if tick <= 0 {
		panic("heartbeat: tick must be positive")
	}
	return &Wheel{
		tick:  tick,
		start: time.Now(),
		done:  make(chan struct{}),
	}
}

// AfterFunc arms a timer that calls f once, on the wheel's goroutine, no
// earlier than d from now (rounded up to the wheel's tick; d <= 0 means the
// next tick). f must be quick and must not block; see the package doc.
// After [Wheel.Close], AfterFunc returns a Timer that never fires.
// It panics if f is nil.
func (w *Wheel) AfterFunc(d time.Duration, f func()) *Timer {
	if f == nil {
		panic("heartbeat: nil func")
	}
	t := &Timer{w: w, f: f, pos: -1}
	due := w.dueTick(d)
	w.mu.Lock()
	if !w.closed {
		w.scheduleLocked(t, due)
	}
	w.mu.Unlock()
	return t
}

// Len returns the number of pending timers: armed, not stopped, and not yet
// collected for firing.
func (w *Wheel) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Close stops the wheel. Pending timers never fire, and timers armed or reset
// afterwards never fire. A callback already collected for the current tick
// may still run; Close does not wait for it, so it may be called from a
// callback. Close is idempotent.
func (w *Wheel) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	for i := range w.slots {
		s := w.slots[i]
		for j := range s {
			s[j].t.pos = -1
		}
		w.slots[i] = nil
	}
	w.n = 0
	close(w.done)
}

// dueTick returns the first tick at or after now+d. It reads the clock
// before the caller takes the lock; scheduleLocked never lets the result
// fall at or before the current tick, which could only delay the timer.
func (w *Wheel) dueTick(d time.Duration) int64 {
	if d < 0 {
		d = 0
	}
	e := time.Since(w.start)
	if d > math.MaxInt64/2-e {
		return math.MaxInt64 / 2 // effectively never
	}
	x := e + d
	q := int64(x / w.tick)
	if x%w.tick != 0 {
		q++
	}
	return q
}

// nowTick returns the last tick whose time has come.
func (w *Wheel) nowTick() int64 {
	return int64(time.Since(w.start) / w.tick)
}

// scheduleLocked makes the unarmed timer t pending for tick due and starts
// the goroutine if it is not running. w.mu is held and w is not closed.
func (w *Wheel) scheduleLocked(t *Timer, due int64) {
	if !w.running {
		// Nothing is pending, so the ticks since the goroutine last ran
		// hold no timer; skip them.
		w.cur = max(w.cur, w.nowTick())
		w.running = true
		go w.run()
	}
	w.insertLocked(t, due)
}

// insertLocked puts t in the slot of its due tick, never earlier than the
// next tick to be processed.
func (w *Wheel) insertLocked(t *Timer, due int64) {
	due = max(due, w.cur+1)
	t.due = due
	s := &w.slots[due&slotMask]
	t.pos = len(*s)
	*s = append(*s, entry{due: due, t: t})
	w.n++
}

// removeLocked takes the pending timer t out of its slot in O(1): the last
// entry of the slot moves into t's place.
func (w *Wheel) removeLocked(t *Timer) {
	s := &w.slots[t.due&slotMask]
	w.removeAtLocked(s, t.pos)
}

// removeAtLocked removes the entry at index i of slot s.
func (w *Wheel) removeAtLocked(s *[]entry, i int) {
	sl := *s
	last := len(sl) - 1
	sl[i].t.pos = -1
	if i != last {
		sl[i] = sl[last]
		sl[i].t.pos = i
	}
	sl[last] = entry{}
	*s = sl[:last]
	w.n--
}

// advanceLocked processes every tick after w.cur up to and including target,
// removes the timers that are due and appends them to buf. When more than one
// revolution was missed, each slot is visited once, at the last tick in the
// range that maps to it, which catches every due timer.
func (w *Wheel) advanceLocked(target int64, buf []*Timer) []*Timer {
	if target <= w.cur {
		return buf
	}
	from := w.cur + 1
	if target-w.cur > numSlots {
		from = target - numSlots + 1
	}
	for k := from; k <= target; k++ {
		s := &w.slots[k&slotMask]
		for i := 0; i < len(*s); {
			if e := (*s)[i]; e.due <= k {
				buf = append(buf, e.t)
				w.removeAtLocked(s, i) // the last entry moved to i: look again
			} else {
				i++
			}
		}
	}
	w.cur = target
	return buf
}

// run is the wheel's goroutine. It exits when no timer is pending after a
// tick, or when the wheel is closed.
func (w *Wheel) run() {
	tk := time.NewTicker(w.tick)
	defer tk.Stop()
	var due []*Timer
	for {
		select {
		case <-tk.C:
		case <-w.done:
			return
		}
		target := w.nowTick()
		w.mu.Lock()
		due = w.advanceLocked(target, due[:0])
		if len(due) == 0 {
			if w.exitLocked() {
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			continue
		}
		w.mu.Unlock()
		for i, t := range due {
			due[i] = nil
			t.f()
		}
		// Callbacks often re-arm themselves: check after running them, so
		// such a timer keeps the goroutine instead of restarting it.
		w.mu.Lock()
		exit := w.exitLocked()
		w.mu.Unlock()
		if exit {
			return
		}
	}
}

// exitLocked reports whether the goroutine should exit, and if so marks it
// as not running so that the next armed timer starts a new one.
func (w *Wheel) exitLocked() bool {
	if w.n > 0 && !w.closed {
		return false
	}
	w.running = false
	return true
}
