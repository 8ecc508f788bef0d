//go:build linux

package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sockline/sockline/benchmarks/internal/procstat"
)

// broadcastCase is one NxM case: nodes nodes (on Redis when more than one
// or when redis is set) of subs subscribers each.
type broadcastCase struct {
	Label string
	Nodes int
	Redis bool
	Subs  int
}

// parseCases parses "1x1000,1rx1000,2x10000".
func parseCases(s string) ([]broadcastCase, error) {
	var cs []broadcastCase
	for _, f := range strings.Split(s, ",") {
		n, m, ok := strings.Cut(strings.TrimSpace(f), "x")
		c := broadcastCase{Label: strings.TrimSpace(f)}
		n, c.Redis = strings.CutSuffix(n, "r")
		var err1, err2 error
		c.Nodes, err1 = strconv.Atoi(n)
		c.Subs, err2 = strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || c.Nodes < 1 || c.Subs < 1 {
			return nil, fmt.Errorf("-cases: %q: want NxM (N nodes, 1r for one node on Redis; M subscribers on each)", f)
		}
		c.Redis = c.Redis || c.Nodes > 1
		cs = append(cs, c)
	}
	return cs, nil
}

// broadcastConfig is what the broadcast flags say.
type broadcastConfig struct {
	cases       []broadcastCase
	repeat      int
	rate, size  int
	duration    time.Duration
	heartbeat   time.Duration
	transport   string
	firstSource int
}

// broadcastRun is what one run of a case measured.
type broadcastRun struct {
	Case        broadcastCase
	Subscribers int // connected, in all
	Sent        uint64
	Deliveries  uint64 // messages received by the subscribers, plus the publisher's own copies
	Lost        uint64
	Errors      uint64
	WindowS     float64 // from the publisher's first message to the end of its drain
	NodesCPUS   float64 // utime+stime of the nodes in the window
	RedisCPUS   float64
	BenchCPUS   float64 // the load generators'
	NodeUsPerD  float64 // node CPU µs per delivery
	TotalUsPerD float64 // nodes and redis-server
	DeliveriesS float64 // per second over the window
	P50ms       []float64
	P99ms       []float64 // per bench process (node), the publisher's first
	MaxMs       []float64
	NodesKiB    int64 // at the end
	FirstError  string
}

// runBroadcast runs every case -repeat times, the cases taking turns.
func runBroadcast(ps *procs, testserver, sockline string, c broadcastConfig, log io.Writer) ([]broadcastRun, error) {
	var runs []broadcastRun
	for rep := range max(c.repeat, 1) {
		for _, bc := range c.cases {
			fmt.Fprintf(log, "scale: broadcast %s (run %d)\n", bc.Label, rep+1)
			r, err := runBroadcastCase(ps, testserver, sockline, c, bc, log)
			ps.stopAll()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", bc.Label, err)
			}
			runs = append(runs, *r)
		}
	}
	return runs, nil
}

func runBroadcastCase(ps *procs, testserver, sockline string, c broadcastConfig, bc broadcastCase, log io.Writer) (*broadcastRun, error) {
	var rp *proc
	var raddr string
	if bc.Redis {
		var err error
		if rp, raddr, err = ps.startRedis(); err != nil {
			return nil, err
		}
	}
	nodes, err := ps.startNodes(testserver, bc.Nodes, raddr, c.heartbeat)
	if err != nil {
		return nil, err
	}
	var tagb [6]byte
	_, _ = rand.Read(tagb[:])
	tag := hex.EncodeToString(tagb[:])
	common := []string{"-mode", "broadcast", "-tag", tag, "-n", strconv.Itoa(bc.Subs), "-s", strconv.Itoa(c.size), "-open-timeout", "30s"}
	var subs []*benchProc
	for i := 1; i < bc.Nodes; i++ {
		b, err := startBench(ps, sockline, fmt.Sprintf("sub%d", i), c.transport, i, "127.0.0."+strconv.Itoa(c.firstSource+i),
			append(common, "-subscribe-only", "-d", "1h", nodes[i].url+"/broadcast")...)
		if err != nil {
			return nil, err
		}
		subs = append(subs, b)
	}
	for _, b := range subs {
		if _, err := waitMark(b.proc, b.marks, "bench: measuring", 20*time.Minute); err != nil {
			return nil, err
		}
	}
	pub, err := startBench(ps, sockline, "pub0", c.transport, 0, "127.0.0."+strconv.Itoa(c.firstSource),
		append(common, "-rate", strconv.Itoa(c.rate), "-d", c.duration.String(), "-drain", "10s", nodes[0].url+"/broadcast")...)
	if err != nil {
		return nil, err
	}
	benches := append([]*benchProc{pub}, subs...)
	cpu := func() (n, r, b float64) {
		for _, nd := range nodes {
			s, _ := procstat.CPUSeconds(nd.pid())
			n += s
		}
		if rp != nil {
			r, _ = procstat.CPUSeconds(rp.pid())
		}
		for _, x := range benches {
			s, _ := procstat.CPUSeconds(x.pid())
			b += s
		}
		return n, r, b
	}
	if _, err := waitMark(pub.proc, pub.marks, "bench: measuring", 20*time.Minute); err != nil {
		return nil, err
	}
	n0, r0, b0 := cpu()
	t0 := time.Now()
	if _, err := waitMark(pub.proc, pub.marks, "bench: measured", c.duration+5*time.Minute); err != nil {
		return nil, err
	}
	n1, r1, b1 := cpu()
	window := time.Since(t0)
	r := &broadcastRun{Case: bc, WindowS: window.Seconds(), NodesCPUS: n1 - n0, RedisCPUS: r1 - r0, BenchCPUS: b1 - b0}
	for _, nd := range nodes {
		r.NodesKiB += rssKiB(nd.pid())
	}
	if err := pub.finish(5 * time.Minute); err != nil {
		return nil, err
	}
	for _, b := range subs {
		_ = b.cmd.Process.Signal(syscall.SIGINT)
	}
	for _, b := range benches {
		if b != pub {
			if err := b.finish(2 * time.Minute); err != nil {
				return nil, err
			}
		}
		s := b.sum
		r.Subscribers += s.Connected
		r.Deliveries += s.Received
		r.Lost += s.Lost
		r.Errors += s.Errors
		r.P50ms = append(r.P50ms, s.P50ms)
		r.P99ms = append(r.P99ms, s.P99ms)
		r.MaxMs = append(r.MaxMs, s.MaxMs)
		if r.FirstError == "" {
			r.FirstError = s.FirstError
		}
	}
	r.Sent = pub.sum.Sent
	r.Deliveries += r.Sent // the publisher's session gets every message too
	if r.Deliveries > 0 {
		r.NodeUsPerD = r.NodesCPUS / float64(r.Deliveries) * 1e6
		r.TotalUsPerD = (r.NodesCPUS + r.RedisCPUS) / float64(r.Deliveries) * 1e6
		r.DeliveriesS = float64(r.Deliveries) / window.Seconds()
	}
	return r, nil
}

func joinMs(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.1f", x))
	}
	return strings.Join(s, " / ")
}

// printBroadcast prints every run, then the median of each case's runs.
func printBroadcast(w io.Writer, runs []broadcastRun) {
	fmt.Fprintln(w, "| case | subscribers | sent | deliveries | deliveries/s | lost | node CPU µs/delivery | +redis µs/delivery | p50 ms | p99 ms (per node) | max ms | client CPU s |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.0f | %d | %.2f | %.2f | %s | %s | %s | %.1f |\n",
			r.Case.Label, r.Subscribers, r.Sent, r.Deliveries, r.DeliveriesS, r.Lost, r.NodeUsPerD, r.TotalUsPerD,
			joinMs(r.P50ms), joinMs(r.P99ms), joinMs(r.MaxMs), r.BenchCPUS)
	}
	byCase := map[string][]broadcastRun{}
	var order []string
	for _, r := range runs {
		if _, ok := byCase[r.Case.Label]; !ok {
			order = append(order, r.Case.Label)
		}
		byCase[r.Case.Label] = append(byCase[r.Case.Label], r)
	}
	if len(runs) == len(order) {
		return
	}
	fmt.Fprintln(w, "\nmedians:\n\n| case | runs | node CPU µs/delivery | +redis µs/delivery | worst p99 ms |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, label := range order {
		rs := byCase[label]
		med := func(f func(broadcastRun) float64) float64 {
			var v []float64
			for _, r := range rs {
				v = append(v, f(r))
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.1f |\n", label, len(rs),
			med(func(r broadcastRun) float64 { return r.NodeUsPerD }),
			med(func(r broadcastRun) float64 { return r.TotalUsPerD }),
			med(func(r broadcastRun) float64 { return slices.Max(r.P99ms) }))
	}
}
