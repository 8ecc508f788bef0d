package heartbeat

import "time"

// Timer is one deadline on a [Wheel], created by [Wheel.AfterFunc]. Its
// methods are safe to call from any goroutine, including from its own
// callback.
type Timer struct {
	w *Wheel
	f func()

	// Guarded by w.mu.
	due int64 // absolute tick; meaningful while pending
	pos int   // index in the slot of due, or -1 when not pending
}

// Stop prevents the timer from firing. It returns true if the call stopped a
// pending timer, and false if the timer had already fired, been stopped, or
// been collected for firing on the current tick: in that last case the
// callback may still run, as with time.Timer.Stop on a time.AfterFunc timer.
func (t *Timer) Stop() bool {
	if t.w == nil {
		return false
	}
	w := t.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if t.pos < 0 {
		return false
	}
	w.removeLocked(t)
	return true
}

// Reset makes the timer fire no earlier than d from now, whether it is
// pending, has fired or was stopped. It returns true if the timer was
// pending. If the timer's callback was collected for the current tick but
// has not run yet, Reset returns false and the callback runs both for the
// old deadline and for the new one. On a closed wheel Reset does nothing and
// returns false. It panics on a Timer not created by [Wheel.AfterFunc].
func (t *Timer) Reset(d time.Duration) bool {
	w := t.w
	if w == nil {
		panic("heartbeat: Reset called on uninitialized Timer")
	}
	due := w.dueTick(d)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	pending := t.pos >= 0
	if pending {
		if t.due == max(due, w.cur+1) {
			return true // same slot and tick: nothing to move
		}
		w.removeLocked(t)
		w.insertLocked(t, due)
		return true
	}
	w.scheduleLocked(t, due)
	return false
}
