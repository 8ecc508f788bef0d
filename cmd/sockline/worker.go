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

// message builds "tag:seq:unixnano:" padded with "x" to the run's size,
// stamped now.
func (w *worker) message(seq uint64) string { return w.messageAt(seq, time.Now()) }

// messageAt is message stamped at: an open loop's scheduled time, so that
// a send held up by a slow server counts its wait in the latency.
func (w *worker) messageAt(seq uint64, at time.Time) string {
	var b strings.Builder
	b.Grow(w.r.cfg.size)
	b.WriteString(w.r.tag)
	b.WriteByte(':')
	b.WriteString(strconv.FormatUint(seq, 10))
	b.WriteByte(':')
	b.WriteString(strconv.FormatInt(at.UnixNano(), 10))
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

// publish sends -rate messages a second until stop (broadcast mode).
func (w *worker) publish(stop <-chan struct{}) {
	w.paced(stop, float64(w.r.cfg.rate), time.Now())
}

// paced sends rate messages a second, the first at start, until stop,
// each stamped with its scheduled time. It keeps to the rate by the
// clock, not by counting ticks, which a loaded machine drops: sends that
// fell behind go out at once.
func (w *worker) paced(stop <-chan struct{}, rate float64, start time.Time) {
	every := time.Duration(float64(time.Second) / rate)
	t := time.NewTimer(time.Until(start))
	defer t.Stop()
	var seq uint64
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		due := uint64(time.Since(start).Seconds()*rate) + 1
		for ; seq < due; seq++ {
			if err := w.c.Send(w.messageAt(seq, start.Add(time.Duration(seq)*every))); err != nil {
				if !errors.Is(err, client.ErrClosed) {
					w.r.fail(err)
				}
				return
			}
			w.sent.Add(1)
			w.r.sent.Add(1)
		}
		t.Reset(max(time.Until(start.Add(time.Duration(seq)*every)), time.Millisecond))
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
