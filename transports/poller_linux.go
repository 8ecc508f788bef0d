package transports

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// poller waits for many idle connections to become readable in one
// epoll set, so that an idle hijacked streaming response holds no reader
// goroutine (and its stack) of its own. Each watch is one-shot: the
// connection's onReady runs once, on the poller's goroutine, and must not
// block; it watches again if it wants to.
//
// The connections stay in Go's own netpoller too (a file may be in
// several epoll sets); only this set's goroutine waits on them while
// idle. A closed connection leaves the set by itself, without an event:
// whoever closes a watched connection calls forget.
type poller struct {
	epfd int

	mu      sync.Mutex
	waiting map[uint64]*pollWatch // armed watches by token
	next    uint64
	running bool // a goroutine is in loop
}

// pollWatch is one connection's registration.
type pollWatch struct {
	rc      syscall.RawConn
	onReady func()
	token   uint64
	added   bool // in the epoll set (later arms modify it)
}

// pollIdleExit is how long the poller's goroutine waits with nothing to
// watch before it ends: a process with no streams holds none.
const pollIdleExit = 200 * time.Millisecond

// sharedPoller is the process's poller, or nil where epoll is unavailable.
var sharedPoller = sync.OnceValue(func() *poller {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	return &poller{epfd: fd, waiting: map[uint64]*pollWatch{}}
})

// newPollWatch prepares a watch on conn, or returns nil when conn has no
// descriptor to poll (TLS, a pipe, a wrapper) or there is no poller.
func newPollWatch(conn net.Conn, onReady func()) *pollWatch {
	p := sharedPoller()
	if p == nil {
		return nil
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p.mu.Lock()
	p.next++
	t := p.next
	p.mu.Unlock()
	return &pollWatch{rc: rc, onReady: onReady, token: t}
}

// arm makes w's onReady run once the connection is readable, or the peer
// has hung up. An error means it will not run (the connection is closed).
func (w *pollWatch) arm() error {
	p := sharedPoller()
	op := syscall.EPOLL_CTL_MOD
	if !w.added {
		op = syscall.EPOLL_CTL_ADD
	}
	// Set before the watch is in the set: onReady may run, and arm again,
	// before EpollCtl returns.
	w.added = true
	p.mu.Lock()
	p.waiting[w.token] = w
	if !p.running {
		p.running = true
		go p.loop()
	}
	p.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(w.token)),
		Pad:    int32(uint32(w.token >> 32)),
	}
	var ctlErr error
	err := w.rc.Control(func(fd uintptr) { ctlErr = syscall.EpollCtl(p.epfd, op, int(fd), &ev) })
	if err == nil && ctlErr == nil {
		return nil
	}
	p.mu.Lock()
	delete(p.waiting, w.token)
	p.mu.Unlock()
	return errors.Join(err, ctlErr)
}

// forget takes w out of the waiting set; true means it was armed and its
// onReady will now never run, so the caller does what it would have done.
func (w *pollWatch) forget() bool {
	p := sharedPoller()
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.waiting[w.token]
	delete(p.waiting, w.token)
	return ok
}

// readNow reads what the connection has without waiting: n > 0 bytes, or
// wait true when there is nothing yet, or err (io.EOF once the peer is
// gone).
func (w *pollWatch) readNow(b []byte) (n int, wait bool, err error) {
	var rerr error
	cerr := w.rc.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), b)
		return true // never wait: the caller goes back to the poller
	})
	switch {
	case cerr != nil:
		return 0, false, cerr
	case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EINTR):
		return 0, true, nil
	case rerr != nil:
		return 0, false, rerr
	case n <= 0:
		return 0, false, errEOF
	}
	return n, false, nil
}

// pending reports whether the kernel holds unread bytes for the
// connection: the reader then goes on without a round through the poller.
func (w *pollWatch) pending() bool {
	var n int32
	_ = w.rc.Control(func(fd uintptr) {
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
		if errno != 0 {
			n = 0
		}
	})
	return n > 0
}

// errEOF is readNow's end of stream.
var errEOF = errors.New("transports: connection closed by the peer")

// loop runs the onReady of every watch whose connection is ready, until it
// has had nothing to watch for pollIdleExit.
func (p *poller) loop() {
	var events [128]syscall.EpollEvent
	var ready []*pollWatch
	for {
		n, err := syscall.EpollWait(p.epfd, events[:], int(pollIdleExit/time.Millisecond))
		if err != nil && !errors.Is(err, syscall.EINTR) {
			n = 0 // a broken set: nothing is ready, and waiting watches are served by forget
		}
		p.mu.Lock()
		if n <= 0 && len(p.waiting) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		ready = ready[:0]
		for _, ev := range events[:max(n, 0)] {
			t := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if w, ok := p.waiting[t]; ok {
				delete(p.waiting, t)
				ready = append(ready, w)
			}
		}
		p.mu.Unlock()
		for i, w := range ready {
			ready[i] = nil
			w.onReady()
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			time.Sleep(pollIdleExit)
		}
	}
}
