package transports

import (
	"sync/atomic"
	"time"
)

// writerIdle is how long a writer goroutine waits for more work before it
// ends. Long enough to stay warm between the broadcasts of a busy
// service (tens per second), short enough that a quiet process soon holds
// none.
const writerIdle = 250 * time.Millisecond

// writerWork hands a connection with frames to write to a writer goroutine
// that is waiting for work. It is unbuffered: a hand-off succeeds only when
// a writer waits, and otherwise a new writer starts.
//
// Writers are reused rather than started per write because a fresh
// goroutine starts with a small stack and grows it (copying it) on every
// write through gorilla/websocket and the network stack: with one write
// per delivery, a broadcast to idle connections spent about 15% of its CPU
// growing stacks. A writer that blocks on a slow client holds up no other
// connection, since a busy writer is never handed work.
var writerWork = make(chan drainer)

// drainer is a connection that writes what its session has ready, then
// returns: a websocket (wsConn) or a hijacked streaming response
// (streamConn).
type drainer interface{ write() }

// startWriter runs d.write on a waiting writer goroutine, or on a new one.
func startWriter(d drainer) {
	select {
	case writerWork <- d:
	default:
		go writerLoop(d)
	}
}

// writerLoop writes for d, then for every connection handed to it, until
// it has waited writerIdle for work.
func writerLoop(d drainer) {
	d.write()
	idle := time.NewTimer(writerIdle)
	defer idle.Stop()
	for {
		select {
		case d := <-writerWork:
			d.write()
			idle.Reset(writerIdle)
		case <-idle.C:
			return
		}
	}
}

// wakeups serializes a connection's writers. It counts wake calls not yet
// served; a writer runs while the count is positive, and one that gives
// up for good (the connection is over) leaves it positive, so that no
// writer starts again.
type wakeups struct{ n atomic.Int32 }

// wake starts a writer for d unless one is at work on it; the one at work
// sees the count go up and goes round once more.
func (w *wakeups) wake(d drainer) {
	if w.n.Add(1) == 1 {
		startWriter(d)
	}
}

// drain runs ready (which writes what is ready and returns false once the
// connection is over) until no wake came in meanwhile.
func (w *wakeups) drain(ready func() bool) {
	for {
		n := w.n.Load()
		if !ready() {
			return
		}
		if w.n.CompareAndSwap(n, 0) {
			return // the next wake starts a writer
		}
	}
}
