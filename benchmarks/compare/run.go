//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sockline/sockline/benchmarks/internal/procstat"
)

// server is one implementation under comparison.
type server struct {
	name string   // column name and -servers key
	argv []string // command line; "-addr 127.0.0.1:PORT" is appended
	// wsOnly: serves websocket only (the raw gorilla ceiling); scenarios
	// over other transports are n/a.
	wsOnly bool
	// missing says why the server cannot run here ("" when it can).
	missing string
}

// scenario is one row of the comparison.
type scenario struct {
	key       string // -scenarios key
	title     string // row label
	mode      string // sockline bench -mode
	transport string
	path      string   // "/echo" or "/broadcast"
	args      []string // more bench flags
	sessions  int      // sessions bench opens (idle: -idle-n)
}

// scenarios builds the rows for the flags.
func scenarios(c config) []scenario {
	echo := func(key, title, tr string) scenario {
		args := []string{"-n", strconv.Itoa(c.sessions), "-w", strconv.Itoa(c.window), "-s", strconv.Itoa(c.size)}
		if c.echoRate > 0 {
			args = append(args, "-rate", strconv.Itoa(c.echoRate))
		}
		return scenario{key: key, title: title, mode: "echo", transport: tr, path: "/echo", sessions: c.sessions, args: args}
	}
	bcast := func(key, title, tr string, n int) scenario {
		return scenario{key: key, title: title, mode: "broadcast", transport: tr, path: "/broadcast", sessions: n,
			args: []string{"-n", strconv.Itoa(n), "-s", strconv.Itoa(c.size), "-rate", strconv.Itoa(c.rate)}}
	}
	idle := func(key, title, tr string) scenario {
		return scenario{key: key, title: title, mode: "idle", transport: tr, path: "/echo", sessions: c.idleN,
			args: []string{"-n", strconv.Itoa(c.idleN)}}
	}
	return []scenario{
		echo("ws-echo", "websocket echo", "websocket"),
		echo("xs-echo", "xhr-streaming echo", "xhr-streaming"),
		echo("es-echo", "eventsource echo", "eventsource"),
		echo("xp-echo", "xhr-polling echo", "xhr-polling"),
		bcast("ws-bcast", fmt.Sprintf("broadcast, %d websocket subscribers", c.bcastWS), "websocket", c.bcastWS),
		bcast("xs-bcast", fmt.Sprintf("broadcast, %d xhr-streaming subscribers", c.bcastXS), "xhr-streaming", c.bcastXS),
		idle("ws-idle", fmt.Sprintf("%d idle websocket sessions", c.idleN), "websocket"),
		idle("xs-idle", fmt.Sprintf("%d idle xhr-streaming sessions", c.idleN), "xhr-streaming"),
		idle("es-idle", fmt.Sprintf("%d idle eventsource sessions", c.idleN), "eventsource"),
		{key: "ws-churn", title: fmt.Sprintf("websocket churn, %d openers", c.openers), mode: "churn", transport: "websocket",
			path: "/echo", sessions: c.openers, args: []string{"-n", strconv.Itoa(c.openers)}},
	}
}

// applies says whether the scenario runs on the server.
func (s scenario) applies(sv server) bool { return !sv.wsOnly || s.transport == "websocket" }

// benchSummary is the part of sockline bench -json this program reads.
type benchSummary struct {
	Connected   int     `json:"connected"`
	DurationS   float64 `json:"duration_s"`
	Sent        uint64  `json:"sent"`
	Received    uint64  `json:"received"`
	MsgsPerSec  float64 `json:"msgs_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	P999ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`
	Errors      uint64  `json:"errors"`
	Lost        uint64  `json:"lost"`
	Duplicated  uint64  `json:"duplicated"`
	FirstError  string  `json:"first_error,omitempty"`
	Opens       uint64  `json:"opens"`
	OpensPerSec float64 `json:"opens_per_s"`
	OpenP50ms   float64 `json:"open_p50_ms"`
	OpenP99ms   float64 `json:"open_p99_ms"`
	OpenMaxMs   float64 `json:"open_max_ms"`
	Dropped     uint64  `json:"dropped"`
}

// result is one run: a fresh server process, one bench run against it.
type result struct {
	Server   string       `json:"server"`
	Scenario string       `json:"scenario"`
	Round    int          `json:"round"`
	Bench    benchSummary `json:"bench"`
	// CPUSeconds is the server's user + system CPU time over bench's
	// measured window (echo, broadcast, churn).
	CPUSeconds float64 `json:"server_cpu_s"`
	// Units is what CPUSeconds is divided by: messages received (echo),
	// deliveries to subscribers (broadcast), sessions opened (churn).
	Units    float64 `json:"units"`
	CPUPerUs float64 `json:"server_cpu_us_per_unit"`
	// Syscalls is how many system calls the server made over the measured
	// window (-syscalls), SyscallsPerUnit that per unit; 0 when not counted.
	Syscalls        float64 `json:"server_syscalls,omitempty"`
	SyscallsPerUnit float64 `json:"server_syscalls_per_unit,omitempty"`
	RSSBefore       int64   `json:"rss_before_kib"` // idle: server RSS before any session
	RSSOpen         int64   `json:"rss_open_kib"`   // idle: all open, after the settle
	RSSEnd          int64   `json:"rss_end_kib"`    // idle: at the end of the hold
	// RSSPerSession is (RSSEnd - RSSBefore) / sessions open, in KiB.
	RSSPerSession float64 `json:"rss_kib_per_session"`
	Err           string  `json:"error,omitempty"`
	// Note says what was odd about a run that still counts (losses,
	// errors, sessions short).
	Note string `json:"note,omitempty"`
}

// ok says whether the run has figures.
func (r result) ok() bool { return r.Err == "" }

// runOne starts the server, runs bench for the scenario against it,
// samples the server at bench's marks, and stops the server.
func runOne(ctx context.Context, c config, b builds, sv server, sc scenario, round int) result {
	res := result{Server: sv.name, Scenario: sc.key, Round: round}
	port, err := freePort()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var srvOut tail
	srvLog := lineWriter(srvOut.add)
	srv, err := startChild(ctx, 0, b.root, srvLog, srvLog, append(append([]string{}, sv.argv...), "-addr", addr)...)
	if err != nil {
		res.Err = "server: " + err.Error()
		return res
	}
	defer srv.stop()
	base := "http://" + addr
	if err := waitInfo(ctx, base, srv); err != nil {
		res.Err = fmt.Sprintf("server: %v (%s)", err, srvOut.String())
		return res
	}
	pid := srv.pid()
	if res.RSSBefore, err = procstat.RSSKiB(pid); err != nil {
		res.Err = err.Error()
		return res
	}

	d := c.duration
	if sc.mode == "idle" {
		d = c.settle + c.hold
	}
	args := append([]string{b.bench, "bench", "-json", "-mode", sc.mode, "-t", sc.transport, "-d", d.String()}, sc.args...)
	args = append(args, base+sc.path)
	var stdout bytes.Buffer
	pr, pw := io.Pipe()
	bctx, cancel := context.WithTimeout(ctx, d+3*time.Minute)
	defer cancel()
	bench, err := startChild(bctx, 1, b.root, &stdout, pw, args...)
	if err != nil {
		res.Err = "bench: " + err.Error()
		return res
	}
	var (
		mu         sync.Mutex
		cpu0, cpu1 float64
		marks      int
		sampleErr  error
		benchTail  tail
		settled    = make(chan struct{})
		settleOnce sync.Once
		counter    *syscallCounter
	)
	sample := func(f func() error) {
		if err := f(); err != nil {
			mu.Lock()
			sampleErr = err
			mu.Unlock()
		}
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			benchTail.add(line)
			if c.verbose {
				fmt.Fprintf(c.progress, "    bench: %s\n", line)
			}
			switch {
			case line == "bench: measuring":
				if c.syscalls {
					sample(func() (err error) { counter, err = countSyscalls(bctx, pid); return })
				}
				sample(func() (err error) { cpu0, err = procstat.CPUSeconds(pid); return })
				mu.Lock()
				marks++
				mu.Unlock()
			case line == "bench: measured":
				sample(func() (err error) { cpu1, err = procstat.CPUSeconds(pid); return })
				if counter != nil {
					sample(func() (err error) { res.Syscalls, err = counter.stop(); return })
				}
				mu.Lock()
				marks++
				mu.Unlock()
			case strings.HasPrefix(line, "idle: ") && strings.Contains(line, " open"):
				settleOnce.Do(func() {
					go func() {
						defer close(settled)
						select {
						case <-time.After(c.settle):
							sample(func() (err error) { res.RSSOpen, err = procstat.RSSKiB(pid); return })
						case <-bctx.Done():
						}
					}()
				})
			case line == "idle: closing":
				sample(func() (err error) { res.RSSEnd, err = procstat.RSSKiB(pid); return })
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	<-bench.done
	pw.Close()
	<-scanned
	if counter != nil {
		_, _ = counter.stop() // a bench that never marked the end of its window leaves it running
	}
	settleOnce.Do(func() { close(settled) })
	<-settled

	if err := json.Unmarshal(stdout.Bytes(), &res.Bench); err != nil {
		res.Err = fmt.Sprintf("bench exited %v: %s", bench.err, benchTail.String())
		return res
	}
	if sampleErr != nil {
		res.Err = sampleErr.Error()
		return res
	}
	res.CPUSeconds = cpu1 - cpu0
	fill(&res, sc, marks)
	return res
}

// fill derives the per-unit figures of a run, or says why it has none.
func fill(res *result, sc scenario, marks int) {
	bs := res.Bench
	var notes []string
	if bs.Errors > 0 {
		notes = append(notes, fmt.Sprintf("%d errors (%s)", bs.Errors, bs.FirstError))
	}
	if bs.Lost > 0 || bs.Duplicated > 0 {
		notes = append(notes, fmt.Sprintf("%d lost, %d duplicated", bs.Lost, bs.Duplicated))
	}
	switch sc.mode {
	case "idle":
		if bs.Connected == 0 || res.RSSEnd == 0 {
			res.Err = fmt.Sprintf("no sessions held (%s)", bs.FirstError)
			return
		}
		if bs.Connected < sc.sessions {
			notes = append(notes, fmt.Sprintf("%d of %d sessions opened", bs.Connected, sc.sessions))
		}
		if bs.Dropped > 0 {
			notes = append(notes, fmt.Sprintf("%d sessions dropped while held", bs.Dropped))
		}
		res.RSSPerSession = float64(res.RSSEnd-res.RSSBefore) / float64(bs.Connected)
	default:
		if marks != 2 {
			res.Err = "bench did not mark its measured window"
			return
		}
		if sc.mode != "churn" && bs.Connected < sc.sessions {
			res.Err = fmt.Sprintf("%d of %d sessions connected (%s)", bs.Connected, sc.sessions, bs.FirstError)
			return
		}
		res.Units = float64(bs.Received)
		if sc.mode == "churn" {
			res.Units = float64(bs.Opens)
		}
		if res.Units == 0 {
			res.Err = fmt.Sprintf("nothing measured (%s)", bs.FirstError)
			return
		}
		res.CPUPerUs = res.CPUSeconds / res.Units * 1e6
		res.SyscallsPerUnit = res.Syscalls / res.Units
	}
	res.Note = strings.Join(notes, "; ")
}

// lineWriter calls f with every line written to it (an io.Writer for a
// child's output).
type lineWriter func(string)

func (f lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		f(l)
	}
	return len(p), nil
}
