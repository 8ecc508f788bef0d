package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/client"
)

// idleOpeners is how many sessions idle mode opens at a time by default
// (-openers).
const idleOpeners = 50

// openClient is the HTTP client and dial options of an idle or churn run.
func openClient(cfg benchConfig, watch *heartbeatWatch) (*http.Client, *client.Options, error) {
	return benchClient(cfg, max(4*cfg.sessions, 100), watch)
}

// dialTimed dials one session and says how long it took to open: from the
// start of Dial (its /info request included) to the "o" frame.
func dialTimed(ctx context.Context, url string, opts *client.Options) (*client.Conn, time.Duration, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	c, err := client.Dial(dctx, url, opts)
	return c, time.Since(start), err
}

// fillOpens fills in the opening figures of an idle or churn summary.
func fillOpens(s *benchSummary, r *benchRun, lat []time.Duration, elapsed time.Duration) {
	s.Opens = uint64(len(lat))
	if elapsed > 0 {
		s.OpensPerSec = float64(len(lat)) / elapsed.Seconds()
	}
	s.OpenP50ms, s.OpenP99ms, _, s.OpenMaxMs = quantiles(lat)
	s.DurationS = elapsed.Seconds()
	s.Errors = r.errors.Load()
	if p := r.firstErr.Load(); p != nil {
		s.FirstError = *p
	}
}

// runIdle opens cfg.sessions sessions, cfg.openers at a time, writes
// "idle: N open" to progress, holds them without sending for
// cfg.duration, writes "idle: closing" and closes them. A session that
// ends while held counts as dropped (and as an error). With cfg.hbDelay,
// the heartbeats of every session are timed until the end of the hold.
func runIdle(ctx context.Context, cfg benchConfig, progress io.Writer) benchSummary {
	r := &benchRun{cfg: cfg}
	sum := benchSummary{URL: cfg.url, Transport: cfg.transport, Mode: cfg.mode, Sessions: cfg.sessions}
	var watch *heartbeatWatch
	if cfg.hbDelay > 0 {
		watch = newHeartbeatWatch(cfg.hbDelay, cfg.hbSlack)
	}
	hc, opts, err := openClient(cfg, watch)
	if err != nil {
		r.fail(err)
		fillOpens(&sum, r, nil, 0)
		return sum
	}
	defer hc.CloseIdleConnections()

	var mu sync.Mutex
	var conns []*client.Conn
	var lat []time.Duration
	sem := make(chan struct{}, cfg.openers)
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.sessions {
		sem <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, d, err := dialTimed(ctx, cfg.url, opts)
			if err != nil {
				r.fail(err)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			lat = append(lat, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	opening := time.Since(start)
	sum.Connected = len(conns)
	fmt.Fprintf(progress, markIdleOpen+" (%d requested, %.1fs to open)\n", len(conns), cfg.sessions, opening.Seconds())

	var dropped atomic.Uint64
	var watchers sync.WaitGroup
	for _, c := range conns {
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			for {
				if _, err := c.Recv(context.Background()); err != nil {
					if !errors.Is(err, client.ErrClosed) {
						dropped.Add(1)
						r.fail(err)
					}
					return
				}
			}
		}()
	}
	hold := time.NewTimer(cfg.duration)
	select {
	case <-hold.C:
	case <-ctx.Done():
	}
	hold.Stop()
	if watch != nil {
		hb := watch.finish(time.Now())
		sum.HeartbeatDelayMs = float64(cfg.hbDelay) / float64(time.Millisecond)
		sum.HeartbeatSlackMs = float64(cfg.hbSlack) / float64(time.Millisecond)
		sum.HeartbeatSessions, sum.Heartbeats, sum.LateHeartbeats = hb.Sessions, hb.Frames, hb.Late
		sum.LateHeartbeatSess, sum.MaxHeartbeatGapMs = hb.LateSessions, hb.MaxGapMs
		sum.HeartbeatLeft, sum.HeartbeatGapP50ms, sum.HeartbeatGapP99ms, sum.HeartbeatGapP999ms = hb.Left, hb.P50GapMs, hb.P99GapMs, hb.P999GapMs
	}
	fmt.Fprintln(progress, markIdleClosing)
	closeAll(conns)
	watchers.Wait()
	fillOpens(&sum, r, lat, opening)
	sum.Dropped = dropped.Load()
	return sum
}

// runChurn runs cfg.sessions openers for cfg.duration; each opens a
// session, closes it as soon as it is open, and starts over.
func runChurn(ctx context.Context, cfg benchConfig, progress io.Writer) benchSummary {
	r := &benchRun{cfg: cfg}
	sum := benchSummary{URL: cfg.url, Transport: cfg.transport, Mode: cfg.mode, Sessions: cfg.sessions}
	hc, opts, err := openClient(cfg, nil)
	if err != nil {
		r.fail(err)
		fillOpens(&sum, r, nil, 0)
		return sum
	}
	defer hc.CloseIdleConnections()

	fmt.Fprintln(progress, markMeasuring)
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var opens atomic.Uint64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range cfg.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				c, d, err := dialTimed(ctx, cfg.url, opts)
				if err != nil {
					if ctx.Err() == nil {
						r.fail(err)
						time.Sleep(10 * time.Millisecond) // not a hot loop on a dead server
					}
					continue
				}
				mine = append(mine, d)
				opens.Add(1)
				_ = c.Close(1000, "churn")
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	var last uint64
loop:
	for {
		select {
		case <-tick.C:
			n := opens.Load()
			fmt.Fprintf(progress, "%5.1fs  openers %d  opened %d  %d opens/s  errors %d\n",
				time.Since(start).Seconds(), cfg.sessions, n, n-last, r.errors.Load())
			last = n
		case <-done:
			break loop
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	fmt.Fprintln(progress, markMeasured)
	sum.Connected = int(opens.Load())
	fillOpens(&sum, r, lat, elapsed)
	return sum
}

// printOpenSummary prints an idle or churn summary.
func printOpenSummary(w io.Writer, s benchSummary) {
	if s.Mode == "idle" {
		fmt.Fprintf(w, "idle %s over %s: %d/%d sessions open in %.1fs, held for the run, %d dropped\n",
			s.URL, s.Transport, s.Connected, s.Sessions, s.DurationS, s.Dropped)
	} else {
		fmt.Fprintf(w, "churn %s over %s: %d openers, %d sessions opened and closed in %.1fs, %.0f opens/s\n",
			s.URL, s.Transport, s.Sessions, s.Opens, s.DurationS, s.OpensPerSec)
	}
	fmt.Fprintf(w, "opening p50 %.3fms  p99 %.3fms  max %.3fms\n", s.OpenP50ms, s.OpenP99ms, s.OpenMaxMs)
	if s.HeartbeatSessions > 0 {
		fmt.Fprintf(w, "heartbeats %d over %d sessions held to the end, %d late (in %d sessions); gaps p50 %.0fms p99 %.0fms p999 %.0fms max %.0fms (limit %.0fms)\n",
			s.Heartbeats, s.HeartbeatSessions, s.LateHeartbeats, s.LateHeartbeatSess,
			s.HeartbeatGapP50ms, s.HeartbeatGapP99ms, s.HeartbeatGapP999ms, s.MaxHeartbeatGapMs, s.HeartbeatDelayMs+s.HeartbeatSlackMs)
	}
	fmt.Fprintf(w, "errors %d\n", s.Errors)
	if s.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", s.FirstError)
	}
}
