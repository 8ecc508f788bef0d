package heartbeat_test

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/heartbeat"
)

// A callback should only wake the goroutine that does the work.
func Example() {
	w := heartbeat.NewWheel(10 * time.Millisecond)
	defer w.Close()

	wake := make(chan struct{}, 1)
	w.AfterFunc(20*time.Millisecond, func() {
		select {
		case wake <- struct{}{}:
		default: // already woken
		}
	})
	<-wake
	fmt.Println("send heartbeat; pending timers:", w.Len())
	// Output: send heartbeat; pending timers: 0
}

// Lazy rechecking: activity is recorded with one atomic store, and the timer
// callback re-arms itself for the remainder instead of every message resetting
// the timer.
func ExampleTimer_Reset() {
	const idleLimit = 50 * time.Millisecond
	w := heartbeat.NewWheel(5 * time.Millisecond)
	defer w.Close()

	var lastActive atomic.Int64 // UnixNano of the last message
	lastActive.Store(time.Now().UnixNano())
	expired := make(chan struct{})

	var t *heartbeat.Timer
	check := func() {
		idle := time.Since(time.Unix(0, lastActive.Load()))
		if idle < idleLimit {
			t.Reset(idleLimit - idle) // not yet: look again at the real deadline
			return
		}
		close(expired)
	}
	t = w.AfterFunc(time.Hour, check)
	t.Reset(idleLimit) // arm only once t is set

	for range 3 { // messages arrive; none touches the wheel
		time.Sleep(10 * time.Millisecond)
		lastActive.Store(time.Now().UnixNano())
	}
	<-expired
	fmt.Println("session expired after", idleLimit, "of silence")
	// Output: session expired after 50ms of silence
}
