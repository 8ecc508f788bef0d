package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockline/sockline/client"
)

// benchConfig is what the bench flags say.
type benchConfig struct {
	url       string
	transport string
	mode      string // "echo", "broadcast", "idle" or "churn"
	sessions  int
	window    int
	size      int
	duration  time.Duration
	drain     time.Duration
	rate      int  // broadcast: messages per second; echo with openLoop: over all sessions
	openLoop  bool // echo: -rate was given: send on schedule, not on echoes
	header    http.Header
	source    string        // the local address to connect from; "" any
	openers   int           // idle: sessions opened at a time
	openTime  time.Duration // client.Options.OpenTimeout; 0 its default

	// Idle: the server's heartbeat delay (0: not watched) and how late a
	// heartbeat may be before it counts as late.
	hbDelay, hbSlack time.Duration

	// Broadcast: the tag of the run's messages ("" a random one), and no
	// publisher of its own (another bench run publishes with the same tag).
	tag           string
	subscribeOnly bool
}

// benchSummary is the result, printed as text or, with -json, as JSON.
type benchSummary struct {
	URL        string  `json:"url"`
	Transport  string  `json:"transport"`
	Mode       string  `json:"mode"`
	Sessions   int     `json:"sessions"`
	Connected  int     `json:"connected"`
	InFlight   int     `json:"in_flight"`
	Size       int     `json:"size_bytes"`
	DurationS  float64 `json:"duration_s"`
	Sent       uint64  `json:"sent"`
	Received   uint64  `json:"received"`
	MsgsPerSec float64 `json:"msgs_per_s"`
	// OpenLoopRate is echo's -rate when given: messages a second sent on
	// schedule over all sessions; MsgsPerSec below it means the clients
	// or the server could not keep up.
	OpenLoopRate int     `json:"open_loop_rate,omitempty"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	P999ms       float64 `json:"p999_ms"`
	MaxMs        float64 `json:"max_ms"`
	Errors       uint64  `json:"errors"`
	Lost         uint64  `json:"lost"`
	Duplicated   uint64  `json:"duplicated"`
	FirstError   string  `json:"first_error,omitempty"`

	// Idle and churn modes: sessions opened (churn: opened and closed),
	// and the time from starting a Dial (/info included) to its "o" frame.
	Opens       uint64  `json:"opens,omitempty"`
	OpensPerSec float64 `json:"opens_per_s,omitempty"`
	OpenP50ms   float64 `json:"open_p50_ms,omitempty"`
	OpenP99ms   float64 `json:"open_p99_ms,omitempty"`
	OpenMaxMs   float64 `json:"open_max_ms,omitempty"`
	// Idle mode: sessions that ended while they were held.
	Dropped uint64 `json:"dropped,omitempty"`

	// Idle mode with -heartbeat: sessions held to the end and watched,
	// heartbeat frames seen, gaps between a session's heartbeats (or its
	// open frame and its first one, or its last one and the end of the
	// hold) longer than -heartbeat plus -slack, sessions with such a gap,
	// and the gaps' percentiles. Sessions not held to the end (never
	// opened, or closed) are left out of these (heartbeat_left).
	HeartbeatDelayMs   float64 `json:"heartbeat_delay_ms,omitempty"`
	HeartbeatLeft      int     `json:"heartbeat_left,omitempty"`
	HeartbeatGapP50ms  float64 `json:"heartbeat_gap_p50_ms,omitempty"`
	HeartbeatGapP99ms  float64 `json:"heartbeat_gap_p99_ms,omitempty"`
	HeartbeatGapP999ms float64 `json:"heartbeat_gap_p999_ms,omitempty"`
	HeartbeatSessions  int     `json:"heartbeat_sessions,omitempty"`
	Heartbeats         uint64  `json:"heartbeats,omitempty"`
	LateHeartbeats     uint64  `json:"late_heartbeats"`
	LateHeartbeatSess  int     `json:"late_heartbeat_sessions"`
	MaxHeartbeatGapMs  float64 `json:"max_heartbeat_gap_ms,omitempty"`
	HeartbeatSlackMs   float64 `json:"heartbeat_slack_ms,omitempty"`
}

// Lines bench writes to stderr, on lines of their own, so that a program
// running it (benchmarks/compare) can sample the server at the right
// moments. Echo, broadcast and churn write markMeasuring when the measured
// window starts (every session open) and markMeasured when it ends (after
// the drain, before sessions are closed). Idle mode writes
// "idle: N open" (markIdleOpen) once every session it could open is open,
// and markIdleClosing at the end of -d, before it closes them.
const (
	markMeasuring   = "bench: measuring"
	markMeasured    = "bench: measured"
	markIdleOpen    = "idle: %d open"
	markIdleClosing = "idle: closing"
)

// benchCmd runs the load for -d, then waits up to -drain for answers
// still in flight, and prints the summary. A progress line goes to stderr
// every second. Its exit code is 0 unless nothing connected.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cfg := benchConfig{header: http.Header{}}
	fs.StringVar(&cfg.transport, "t", client.WebSocket, "`transport`: websocket, xhr-streaming, eventsource, xhr-polling")
	fs.StringVar(&cfg.mode, "mode", "echo", "what to do, one of\n"+
		"echo: every session sends and times its echoes;\n"+
		"broadcast: sessions only receive what one extra publisher session sends (e.g. to /broadcast);\n"+
		"idle: open -n sessions (50 at a time), hold them quiet for -d, report opening latencies;\n"+
		"churn: -n openers open and close sessions for -d, report opens/s and opening latencies")
	fs.IntVar(&cfg.sessions, "n", 10, "sessions (idle: sessions held; churn: openers)")
	fs.IntVar(&cfg.window, "w", 1, "echo: messages in flight per session")
	fs.IntVar(&cfg.size, "s", 64, "bytes per message (at least the 40-byte header)")
	fs.DurationVar(&cfg.duration, "d", 10*time.Second, "how long to send")
	fs.DurationVar(&cfg.drain, "drain", 2*time.Second, "after -d, how long to wait for messages in flight")
	fs.IntVar(&cfg.rate, "rate", 100, "broadcast: messages per second from the publisher; "+
		"echo, when given: an open loop of this many messages per second over all sessions, each sent on schedule whether or not "+
		"the echoes came back (latency counted from the scheduled time), instead of -w in flight")
	fs.Var(headerFlag(cfg.header), "H", "add the header `'Name: value'` to every request, the websocket handshake included (repeatable)")
	fs.StringVar(&cfg.source, "source", "", "connect from this local `address` (such as 127.0.0.5: each loopback address has its own ephemeral ports)")
	fs.IntVar(&cfg.openers, "openers", idleOpeners, "idle: sessions opened at a time")
	fs.DurationVar(&cfg.openTime, "open-timeout", 0, "how long a session may take to open (the client's OpenTimeout; 0: its default, at least 5 s): raise it on a loaded machine")
	fs.DurationVar(&cfg.hbDelay, "heartbeat", 0, "idle: the server's heartbeat `delay`; when given, every held session's heartbeat frames are timed and a gap longer than delay + -slack counts as late")
	fs.DurationVar(&cfg.hbSlack, "slack", 5*time.Second, "idle with -heartbeat: how late a heartbeat may be")
	fs.StringVar(&cfg.tag, "tag", "", "broadcast: the `tag` the run's messages carry (empty: a random one); bench runs with the same tag on other nodes can receive one publisher's messages")
	fs.BoolVar(&cfg.subscribeOnly, "subscribe-only", false, "broadcast: no publisher of its own: receive what another bench run with the same -tag publishes, for -d")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load generator to `file`")
	url, code, ok := parse(fs, benchCommand, args, stdout, stderr)
	if !ok {
		return code
	}
	cfg.url = url
	fs.Visit(func(f *flag.Flag) { cfg.openLoop = cfg.openLoop || (f.Name == "rate" && cfg.mode == "echo") })
	if !slices.Contains([]string{"echo", "broadcast", "idle", "churn"}, cfg.mode) {
		fmt.Fprintf(stderr, "sockline bench: -mode %q: want echo, broadcast, idle or churn\n", cfg.mode)
		return 2
	}
	if cfg.sessions < 1 || cfg.window < 1 || cfg.rate < 1 || cfg.duration <= 0 {
		fmt.Fprintln(stderr, "sockline bench: -n, -w, -rate and -d must be positive")
		return 2
	}
	if cfg.hbDelay < 0 || cfg.hbSlack < 0 || cfg.openTime < 0 || cfg.openers < 1 {
		fmt.Fprintln(stderr, "sockline bench: -heartbeat, -slack and -open-timeout must not be negative, -openers must be positive")
		return 2
	}
	if cfg.source != "" && net.ParseIP(cfg.source) == nil {
		fmt.Fprintf(stderr, "sockline bench: -source %q: not an IP address\n", cfg.source)
		return 2
	}
	if cfg.subscribeOnly && (cfg.mode != "broadcast" || cfg.tag == "") {
		fmt.Fprintln(stderr, "sockline bench: -subscribe-only is for -mode broadcast, with a -tag")
		return 2
	}
	cfg.size = max(cfg.size, minMessage)

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "sockline bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "sockline bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	var sum benchSummary
	switch cfg.mode {
	case "idle":
		sum = runIdle(ctx, cfg, stderr)
	case "churn":
		sum = runChurn(ctx, cfg, stderr)
	default:
		sum = runBench(ctx, cfg, stderr)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sum)
	} else {
		printSummary(stdout, sum)
	}
	if sum.Connected == 0 && sum.Opens == 0 {
		return 1
	}
	return 0
}

func printSummary(w io.Writer, s benchSummary) {
	if s.Mode == "idle" || s.Mode == "churn" {
		printOpenSummary(w, s)
		return
	}
	load := fmt.Sprintf("%d in flight", s.InFlight)
	if s.OpenLoopRate > 0 {
		load = fmt.Sprintf("open loop at %d msgs/s", s.OpenLoopRate)
	}
	fmt.Fprintf(w, "%s %s over %s: %d/%d sessions, %s, %d B messages, %.1fs\n",
		s.Mode, s.URL, s.Transport, s.Connected, s.Sessions, load, s.Size, s.DurationS)
	fmt.Fprintf(w, "sent %d  received %d  %.0f msgs/s\n", s.Sent, s.Received, s.MsgsPerSec)
	fmt.Fprintf(w, "latency p50 %.3fms  p99 %.3fms  p999 %.3fms  max %.3fms\n", s.P50ms, s.P99ms, s.P999ms, s.MaxMs)
	fmt.Fprintf(w, "errors %d  lost %d  duplicated %d\n", s.Errors, s.Lost, s.Duplicated)
	if s.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", s.FirstError)
	}
}

// minMessage is the room the header of a bench message takes at most:
// tag, sequence number and send time.
const minMessage = 40

// benchRun is the shared state of one bench run.
type benchRun struct {
	cfg      benchConfig
	tag      string
	sent     atomic.Uint64
	received atomic.Uint64
	dups     atomic.Uint64
	errors   atomic.Uint64
	firstErr atomic.Pointer[string]

	mu        sync.Mutex
	latencies []time.Duration
}

func (r *benchRun) fail(err error) {
	r.errors.Add(1)
	s := describe(err)
	r.firstErr.CompareAndSwap(nil, &s)
}

func runBench(ctx context.Context, cfg benchConfig, progress io.Writer) benchSummary {
	var tagb [4]byte
	_, _ = rand.Read(tagb[:])
	r := &benchRun{cfg: cfg, tag: hex.EncodeToString(tagb[:])}
	if cfg.tag != "" {
		r.tag = cfg.tag
	}
	sum := benchSummary{URL: cfg.url, Transport: cfg.transport, Mode: cfg.mode, Sessions: cfg.sessions,
		InFlight: cfg.window, Size: cfg.size}
	hc, opts, err := benchClient(cfg, 4*cfg.sessions, nil)
	if err != nil {
		r.fail(err)
		r.summarize(&sum, 0, 0)
		return sum
	}
	defer hc.CloseIdleConnections()

	conns := dialAll(ctx, r, opts)
	sum.Connected = len(conns)
	if cfg.mode == "broadcast" || cfg.openLoop {
		sum.InFlight = 0
	}
	if cfg.openLoop {
		sum.OpenLoopRate = cfg.rate
	}
	if len(conns) == 0 {
		r.summarize(&sum, 0, 0)
		return sum
	}

	stopSend := make(chan struct{})
	var senders, receivers sync.WaitGroup
	workers := make([]*worker, len(conns))
	for i, c := range conns {
		workers[i] = &worker{r: r, c: c, window: make(chan struct{}, cfg.window)}
	}
	var pub *worker
	if cfg.mode == "broadcast" && !cfg.subscribeOnly {
		c, err := client.Dial(ctx, cfg.url, opts)
		if err != nil {
			r.fail(err)
			r.summarize(&sum, 0, 0)
			closeAll(conns)
			return sum
		}
		pub = &worker{r: r, c: c}
		receivers.Add(1)
		go func() { defer receivers.Done(); pub.discard() }()
		senders.Add(1)
		go func() { defer senders.Done(); pub.publish(stopSend) }()
	}
	for _, w := range workers {
		receivers.Add(1)
		go func() { defer receivers.Done(); w.receive() }()
		if cfg.mode == "echo" && !cfg.openLoop {
			senders.Add(1)
			go func() { defer senders.Done(); w.send(stopSend) }()
		}
	}
	if cfg.openLoop {
		// Sessions take turns: session i sends at start + i/rate, then
		// every len(workers)/rate.
		perSession := float64(cfg.rate) / float64(len(workers))
		start := time.Now()
		for i, w := range workers {
			senders.Add(1)
			go func() {
				defer senders.Done()
				w.paced(stopSend, perSession, start.Add(time.Duration(float64(i)*float64(time.Second)/float64(cfg.rate))))
			}()
		}
	}

	fmt.Fprintln(progress, markMeasuring)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	deadline := time.NewTimer(cfg.duration)
	var lastRecv uint64
loop:
	for {
		select {
		case <-tick.C:
			got := r.received.Load()
			fmt.Fprintf(progress, "%5.1fs  sessions %d  sent %d  received %d  %d msgs/s  errors %d\n",
				time.Since(start).Seconds(), len(conns), r.sent.Load(), got, got-lastRecv, r.errors.Load())
			lastRecv = got
		case <-deadline.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	tick.Stop()
	deadline.Stop()
	close(stopSend)
	senders.Wait()
	elapsed := time.Since(start)
	received := r.received.Load()

	// Drain: wait for what is in flight, then close everyone.
	expected := func() bool {
		for _, w := range workers {
			if cfg.mode == "echo" && w.uniq.Load() < w.sent.Load() {
				return false
			}
			if pub != nil && w.uniq.Load() < pub.sent.Load() {
				return false
			}
		}
		return true
	}
	drainEnd := time.Now().Add(cfg.drain)
	for !expected() && time.Now().Before(drainEnd) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintln(progress, markMeasured)
	closeAll(conns)
	if pub != nil {
		_ = pub.c.Close(1000, "bench done")
	}
	receivers.Wait()

	var lost, heard uint64 // heard: subscribe-only, the messages any session got
	for _, w := range workers {
		heard = max(heard, w.next)
	}
	for _, w := range workers {
		want := w.sent.Load()
		switch {
		case pub != nil:
			want = pub.sent.Load()
		case cfg.subscribeOnly:
			want = heard
		}
		if u := w.uniq.Load(); u < want {
			lost += want - u
		}
	}
	sum.Lost = lost
	r.summarize(&sum, elapsed, received)
	return sum
}

// summarize fills in the counters and latency percentiles.
func (r *benchRun) summarize(s *benchSummary, elapsed time.Duration, received uint64) {
	s.DurationS = elapsed.Seconds()
	s.Sent = r.sent.Load()
	s.Received = r.received.Load()
	if elapsed > 0 {
		s.MsgsPerSec = float64(received) / elapsed.Seconds()
	}
	s.Errors = r.errors.Load()
	s.Duplicated = r.dups.Load()
	if p := r.firstErr.Load(); p != nil {
		s.FirstError = *p
	}
	r.mu.Lock()
	l := r.latencies
	r.mu.Unlock()
	s.P50ms, s.P99ms, s.P999ms, s.MaxMs = quantiles(l)
}

// quantiles sorts l and returns its p50, p99, p999 and maximum in
// milliseconds (zeros for an empty l).
func quantiles(l []time.Duration) (p50, p99, p999, maxMs float64) {
	if len(l) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(l)
	q := func(p float64) float64 {
		i := min(int(p*float64(len(l))), len(l)-1)
		return float64(l[i]) / float64(time.Millisecond)
	}
	return q(0.5), q(0.99), q(0.999), float64(l[len(l)-1]) / float64(time.Millisecond)
}

// dialAll opens the sessions, 32 at a time; failures count as errors.
func dialAll(ctx context.Context, r *benchRun, opts *client.Options) []*client.Conn {
	var mu sync.Mutex
	var conns []*client.Conn
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for range r.cfg.sessions {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := client.Dial(dctx, r.cfg.url, opts)
			if err != nil {
				r.fail(err)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return conns
}

func closeAll(conns []*client.Conn) {
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Close(1000, "bench done") }()
	}
	wg.Wait()
}
