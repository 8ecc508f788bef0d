//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// figure is one number of a run, or ok false where the run has none.
type figure func(r result) (float64, bool)

func cpuPer(r result) (float64, bool) { return r.CPUPerUs, r.Units > 0 }
func rssPer(r result) (float64, bool) { return r.RSSPerSession, r.RSSEnd > 0 }
func syscallsPer(r result) (float64, bool) {
	return r.SyscallsPerUnit, r.Syscalls > 0 && r.Units > 0
}
func benchField(f func(benchSummary) float64) figure {
	return func(r result) (float64, bool) { return f(r.Bench), true }
}

var (
	p50      = benchField(func(b benchSummary) float64 { return b.P50ms })
	p99      = benchField(func(b benchSummary) float64 { return b.P99ms })
	p999     = benchField(func(b benchSummary) float64 { return b.P999ms })
	rate     = benchField(func(b benchSummary) float64 { return b.MsgsPerSec })
	openP50  = benchField(func(b benchSummary) float64 { return b.OpenP50ms })
	openP99  = benchField(func(b benchSummary) float64 { return b.OpenP99ms })
	openMax  = benchField(func(b benchSummary) float64 { return b.OpenMaxMs })
	openRate = benchField(func(b benchSummary) float64 { return b.OpensPerSec })
)

// headline is the scenario's main figure: the one the ratios are of.
func headline(sc scenario) (figure, string) {
	switch sc.mode {
	case "idle":
		return rssPer, " KiB"
	case "churn":
		return openP50, " ms"
	}
	return cpuPer, " µs"
}

// table is the median of each figure over the rounds of a server and
// scenario.
type table struct {
	results []result
}

// median returns the median of f over the successful runs of sv on sc,
// how many runs had it, and how many there were.
func (t table) median(sv, sc string, f figure) (v float64, ok, runs int) {
	var vs []float64
	for _, r := range t.results {
		if r.Server != sv || r.Scenario != sc {
			continue
		}
		runs++
		if !r.ok() {
			continue
		}
		if x, has := f(r); has {
			vs = append(vs, x)
		}
	}
	if len(vs) == 0 {
		return 0, 0, runs
	}
	slices.Sort(vs)
	m := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		m = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return m, len(vs), runs
}

// num prints v with three significant digits (no exponent).
func num(v float64) string {
	switch a := max(v, -v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// cell is what a table shows for a server that does not run a scenario,
// or has no figure for it; "" when it has one.
func (t table) missing(sv server, sc scenario, ok, runs int) string {
	switch {
	case !sc.applies(sv):
		return "n/a"
	case sv.missing != "":
		return "not run"
	case runs == 0:
		return "not run"
	case ok == 0:
		return "error"
	}
	return ""
}

// partial marks a median taken over fewer runs than there were.
func partial(ok, runs int) string {
	if ok < runs {
		return fmt.Sprintf(" (%d/%d runs)", ok, runs)
	}
	return ""
}

// brief is a run's progress line.
func brief(r result, sc scenario) string {
	if !r.ok() {
		return "ERROR " + r.Err
	}
	var s string
	switch sc.mode {
	case "idle":
		s = fmt.Sprintf("%d open, RSS %s KiB/session (before %d KiB, open %d KiB, end %d KiB), opening p50 %s ms",
			r.Bench.Connected, num(r.RSSPerSession), r.RSSBefore, r.RSSOpen, r.RSSEnd, num(r.Bench.OpenP50ms))
	case "churn":
		s = fmt.Sprintf("%s opens/s, opening p50 %s ms p99 %s ms, server %s µs/open",
			num(r.Bench.OpensPerSec), num(r.Bench.OpenP50ms), num(r.Bench.OpenP99ms), num(r.CPUPerUs))
	default:
		s = fmt.Sprintf("%s msgs/s, server %s µs/msg, p50 %s ms p99 %s ms",
			num(r.Bench.MsgsPerSec), num(r.CPUPerUs), num(r.Bench.P50ms), num(r.Bench.P99ms))
		if r.Syscalls > 0 {
			s += fmt.Sprintf(", %s syscalls/msg", num(r.SyscallsPerUnit))
		}
	}
	if r.Note != "" {
		s += " [" + r.Note + "]"
	}
	return s
}

// report prints the tables.
func report(w io.Writer, c config, servers []server, scs []scenario, results []result, took time.Duration) {
	t := table{results: results}
	fmt.Fprintf(w, "### Out-of-process comparison\n\n")
	fmt.Fprintf(w, "`%s`\n\n", strings.Join(append([]string{"go run ./benchmarks/compare"}, c.args...), " "))
	fmt.Fprintf(w, "%s, %s/%s, %s, %d CPUs; %s. ", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, cpuModel(), runtime.NumCPU(), c.versions)
	if taskset != "" {
		fmt.Fprintf(w, "Each server pinned to CPU 0, sockline bench to CPU 1 (taskset). ")
	} else {
		fmt.Fprintf(w, "Unpinned (no taskset). ")
	}
	fmt.Fprintf(w, "Medians of %d interleaved rounds, a fresh server process per run; %s in all.\n", c.rounds, took.Round(time.Second))
	if c.echoRate > 0 {
		fmt.Fprintf(w, "Echo: %d sessions sending %d messages/s in all on a schedule (open loop), %d B, %s. ", c.sessions, c.echoRate, c.size, c.duration)
	} else {
		fmt.Fprintf(w, "Echo: %d sessions, %d messages in flight each, %d B, %s. ", c.sessions, c.window, c.size, c.duration)
	}
	if c.syscalls {
		fmt.Fprintf(w, "Syscalls: the server's system calls per message or delivery over the measured window (perf stat -e raw_syscalls:sys_enter). ")
	}
	fmt.Fprintf(w, "Broadcast: %d messages/s, %s. Idle: RSS read %s after all are open, then %s later (that figure). Churn: %d openers, %s.\n\n",
		c.rate, c.duration, c.settle, c.hold, c.openers, c.duration)

	var gorilla, base *server
	for i := range servers {
		switch servers[i].name {
		case "gorilla":
			gorilla = &servers[i]
		case "sockjs-go":
			base = &servers[i]
		}
	}

	header := func(first string) {
		fmt.Fprintf(w, "| %s |", first)
		for _, sv := range servers {
			fmt.Fprintf(w, " %s |", sv.name)
		}
		fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---|", len(servers)))
	}

	// Headline: CPU per message or delivery, RSS per idle session, opening
	// latency under churn; ratios to sockjs-go (and over websocket, to the
	// raw gorilla ceiling).
	header("scenario")
	for _, sc := range scs {
		f, unit := headline(sc)
		what := map[string]string{"echo": "server CPU per message", "broadcast": "server CPU per delivery",
			"idle": "server RSS per session", "churn": "opening latency p50"}[sc.mode]
		fmt.Fprintf(w, "| %s: %s |", sc.title, what)
		for _, sv := range servers {
			v, ok, runs := t.median(sv.name, sc.key, f)
			if m := t.missing(sv, sc, ok, runs); m != "" {
				fmt.Fprintf(w, " %s |", m)
				continue
			}
			s := num(v) + unit
			var ratios []string
			if base != nil && sv.name != base.name {
				if bv, bok, _ := t.median(base.name, sc.key, f); bok > 0 && bv > 0 {
					ratios = append(ratios, fmt.Sprintf("%.2fx sockjs-go", v/bv))
				}
			}
			if gorilla != nil && sv.name != gorilla.name && sc.applies(*gorilla) {
				if gv, gok, _ := t.median(gorilla.name, sc.key, f); gok > 0 && gv > 0 {
					ratios = append(ratios, fmt.Sprintf("%.2fx gorilla", v/gv))
				}
			}
			if len(ratios) > 0 {
				s += " (" + strings.Join(ratios, ", ") + ")"
			}
			if n, nok, _ := t.median(sv.name, sc.key, syscallsPer); nok > 0 {
				s += fmt.Sprintf("<br>%s syscalls", num(n))
			}
			switch sc.mode {
			case "echo", "broadcast":
				a, _, _ := t.median(sv.name, sc.key, p50)
				b, _, _ := t.median(sv.name, sc.key, p99)
				s += fmt.Sprintf("<br>p50 %s ms, p99 %s ms", num(a), num(b))
			case "churn":
				b, _, _ := t.median(sv.name, sc.key, openP99)
				cpu, _, _ := t.median(sv.name, sc.key, cpuPer)
				s += fmt.Sprintf("<br>p99 %s ms; server CPU %s µs per open", num(b), num(cpu))
			}
			fmt.Fprintf(w, " %s%s |", s, partial(ok, runs))
		}
		fmt.Fprintln(w)
	}

	// Latency and throughput.
	fmt.Fprintf(w, "\nLatency (ms: p50 / p99 / p999; idle and churn: opening p50 / p99 / max) and rate (messages, deliveries or opens per second):\n\n")
	header("scenario")
	for _, sc := range scs {
		fmt.Fprintf(w, "| %s |", sc.title)
		for _, sv := range servers {
			v, ok, runs := t.median(sv.name, sc.key, p50)
			if m := t.missing(sv, sc, ok, runs); m != "" {
				fmt.Fprintf(w, " %s |", m)
				continue
			}
			var a, b, r float64
			switch sc.mode {
			case "idle", "churn":
				v, _, _ = t.median(sv.name, sc.key, openP50)
				a, _, _ = t.median(sv.name, sc.key, openP99)
				b, _, _ = t.median(sv.name, sc.key, openMax)
				r, _, _ = t.median(sv.name, sc.key, openRate)
			default:
				a, _, _ = t.median(sv.name, sc.key, p99)
				b, _, _ = t.median(sv.name, sc.key, p999)
				r, _, _ = t.median(sv.name, sc.key, rate)
			}
			s := fmt.Sprintf("%s / %s / %s", num(v), num(a), num(b))
			if sc.mode != "idle" {
				s += fmt.Sprintf("<br>%s/s", num(r))
			}
			fmt.Fprintf(w, " %s |", s)
		}
		fmt.Fprintln(w)
	}

	var notes []string
	for _, r := range results {
		switch {
		case r.Err != "":
			notes = append(notes, fmt.Sprintf("round %d, %s, %s: error: %s", r.Round, r.Server, r.Scenario, r.Err))
		case r.Note != "":
			notes = append(notes, fmt.Sprintf("round %d, %s, %s: %s", r.Round, r.Server, r.Scenario, r.Note))
		}
	}
	for _, sv := range servers {
		if sv.missing != "" {
			notes = append(notes, fmt.Sprintf("%s not run: %s", sv.name, sv.missing))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nNotes:\n\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
