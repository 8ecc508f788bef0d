package transports

import (
	"errors"
	"os"
	"time"
)

// A websocket that has just delivered a message is likely to get another
// soon (a chat, an echo, a game): a round through the shared poller for
// each (arming the watch, the poller's wake-up, handing the connection to
// a goroutine, borrowing the read buffer back) cost more CPU per message
// than the message itself. So after a data message the reader goes on
// waiting in Go's own netpoller, as a reader goroutine would, and parks in
// the shared poller only once the client has been quiet for readActive to
// 2*readActive. The wait is cut short by setting a read deadline in the
// past (evict), which only the reader's own Peek can see: gorilla is not
// reading then, and the reader puts the real deadline back before it is.

// readActive is how long, at least, a reader waits for the client's next
// message in a goroutine before it parks in the shared poller.
const readActive = 200 * time.Millisecond

// Reader states, for evict (guarded by wsConn.rmu).
const (
	readerParked  = iota // in the poller, or not started: evict does nothing
	readerReading        // reading or delivering a message
	readerWaiting        // in Peek for the next message
	readerEvicted        // evict cut the wait short
	readerDone           // ended: evict does nothing
)

// pastDeadline makes a read in progress return at once.
var pastDeadline = time.Unix(1, 0)

// waitActive waits in the reader's goroutine for the client's next bytes,
// for at least readActive; false means none came and the connection
// should park in the poller. A read error other than evict's is left
// in the connection for gorilla to find again and report as it would.
func (wc *wsConn) waitActive() bool {
	wc.rmu.Lock()
	wc.rstate, wc.rbusy = readerWaiting, true
	if !wc.ridleArmed {
		wc.ridleArmed = true
		if wc.ridle == nil {
			wc.ridle = time.AfterFunc(readActive, wc.evict)
		} else {
			wc.ridle.Reset(readActive)
		}
	}
	wc.rmu.Unlock()
	_, err := wc.br.Peek(1)
	wc.rmu.Lock()
	evicted := wc.rstate == readerEvicted
	wc.rstate = readerReading
	wc.rmu.Unlock()
	if !evicted {
		return true
	}
	wc.restoreReadDeadline()
	return err == nil || !errors.Is(err, os.ErrDeadlineExceeded)
}

// evict runs on the reader's idle timer: a reader that has waited since
// the timer was armed with no message is made to park; one that has had
// a message meanwhile gets another readActive.
func (wc *wsConn) evict() {
	wc.rmu.Lock()
	defer wc.rmu.Unlock()
	switch {
	case wc.rstate == readerParked || wc.rstate == readerDone:
		wc.ridleArmed = false
	case wc.rbusy || wc.rstate != readerWaiting:
		wc.rbusy = false
		wc.ridle.Reset(readActive)
	default:
		wc.ridleArmed = false
		wc.rstate = readerEvicted
		_ = wc.conn.UnderlyingConn().SetReadDeadline(pastDeadline)
	}
}

// restoreReadDeadline puts back the read deadline that evict replaced.
func (wc *wsConn) restoreReadDeadline() {
	var d time.Time
	if n := wc.deadline.Load(); n != 0 {
		d = time.Unix(0, n)
	}
	_ = wc.conn.UnderlyingConn().SetReadDeadline(d)
}

// setReaderState records that the reader parked or ended, under rmu.
func (wc *wsConn) setReaderState(s uint8) {
	wc.rmu.Lock()
	wc.rstate = s
	if s == readerDone && wc.ridle != nil {
		wc.ridle.Stop()
		wc.ridleArmed = false
	}
	wc.rmu.Unlock()
}
