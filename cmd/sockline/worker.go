package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/client"
)

// worker drives one session of a bench run.
type worker struct {
	r      *benchRun
	c      *client.Conn
	window chan struct{} // echo: a slot per message in flight
	sent   atomic.Uint64 // messages this session sent
	uniq   atomic.Uint64 // messages received in sequence (not duplicates)
	next   uint64        // next sequence number expected; receive goroutine only
}

// message builds "tag:seq:unixnano:" padded with "x" to the run's size.
func (w *worker) message(seq uint64) string {
	var b strings.Builder
	b.Grow(w.r.cfg.size)
	b.WriteString(w.r.tag)
	b.WriteByte(':')
	b.WriteString(strconv.FormatUint(seq, 10))
	b.WriteByte(':')
	b.WriteString(strconv.FormatInt(time.Now().UnixNano(), 10))
	b.WriteByte(':')
	for b.Len() < w.r.cfg.size {
		b.WriteByte('x')
	}
	return b.String()
}

// parseMessage returns the sequence number and send time of a bench
// message of this run; ok is false for anything else.
func (w *worker) parseMessage(m string) (seq uint64, at time.Time, ok bool) {
	rest, found := strings.CutPrefix(m, w.r.tag+":")
	if !found {
		return 0, time.Time{}, false
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) < 3 {
		return 0, time.Time{}, false
	}
	seq, err1 := strconv.ParseUint(parts[0], 10, 64)
	ns, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, time.Time{}, false
	}
	return seq, time.Unix(0, ns), true
}

// send keeps the window full until stop.
func (w *worker) send(stop <-chan struct{}) {
	for seq := uint64(0); ; seq++ {
		select {
		case <-stop:
			return
		case w.window <- struct{}{}:
		}
		if err := w.c.Send(w.message(seq)); err != nil {
			if !errors.Is(err, client.ErrClosed) {
				w.r.fail(err)
			}
			return
		}
		w.sent.Add(1)
		w.r.sent.Add(1)
	}
}

// publish sends -rate messages a second until stop (broadcast mode). It
// keeps to the rate by the clock, not by counting ticks, which a loaded
// machine drops.
func (w *worker) publish(stop <-chan struct{}) {
	t := time.NewTicker(max(time.Second/time.Duration(w.r.cfg.rate), time.Millisecond))
	defer t.Stop()
	start := time.Now()
	var seq uint64
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		due := uint64(time.Since(start).Seconds() * float64(w.r.cfg.rate))
		for ; seq < due; seq++ {
			if err := w.c.Send(w.message(seq)); err != nil {
				if !errors.Is(err, client.ErrClosed) {
					w.r.fail(err)
				}
				return
			}
			w.sent.Add(1)
			w.r.sent.Add(1)
		}
	}
}

// receive times every message of the run, counts gaps and duplicates,
// and frees a window slot per message answered or lost, until the session
// ends.
func (w *worker) receive() {
	lat := make([]time.Duration, 0, 1024)
	defer func() {
		w.r.mu.Lock()
		w.r.latencies = append(w.r.latencies, lat...)
		w.r.mu.Unlock()
	}()
	for {
		m, err := w.c.Recv(context.Background())
		if err != nil {
			if !errors.Is(err, client.ErrClosed) {
				w.r.fail(err)
			}
			return
		}
		seq, at, ok := w.parseMessage(m)
		if !ok {
			continue
		}
		lat = append(lat, time.Since(at))
		w.r.received.Add(1)
		if seq < w.next {
			w.r.dups.Add(1)
			continue
		}
		// Messages skipped over are lost (SockJS keeps order): their
		// slots are freed with this one's, so that the window keeps going.
		free := seq - w.next + 1
		w.next = seq + 1
		w.uniq.Add(1)
		for ; free > 0; free-- {
			select {
			case <-w.window:
			default:
				free = 1
			}
		}
	}
}

// discard reads and drops what the publisher gets back (broadcast mode),
// so that its inbox never fills.
func (w *worker) discard() {
	for {
		if _, err := w.c.Recv(context.Background()); err != nil {
			if !errors.Is(err, client.ErrClosed) {
				w.r.fail(err)
			}
			return
		}
	}
}
