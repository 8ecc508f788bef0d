//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// idleConfig is what the idle flags say.
type idleConfig struct {
	sessions, nodes, perBench int
	hold, heartbeat, slack    time.Duration
	openers                   int
	openTimeout               time.Duration
	transports                []string
	firstSource               int
}

// benchSummary is the part of `sockline bench -json` the driver reads.
type benchSummary struct {
	Transport         string  `json:"transport"`
	Sessions          int     `json:"sessions"`
	Connected         int     `json:"connected"`
	Sent              uint64  `json:"sent"`
	Received          uint64  `json:"received"`
	MsgsPerSec        float64 `json:"msgs_per_s"`
	P50ms             float64 `json:"p50_ms"`
	P99ms             float64 `json:"p99_ms"`
	P999ms            float64 `json:"p999_ms"`
	MaxMs             float64 `json:"max_ms"`
	Errors            uint64  `json:"errors"`
	Lost              uint64  `json:"lost"`
	Duplicated        uint64  `json:"duplicated"`
	FirstError        string  `json:"first_error"`
	OpenP50ms         float64 `json:"open_p50_ms"`
	OpenP99ms         float64 `json:"open_p99_ms"`
	Dropped           uint64  `json:"dropped"`
	HeartbeatSessions int     `json:"heartbeat_sessions"`
	Heartbeats        uint64  `json:"heartbeats"`
	LateHeartbeats    uint64  `json:"late_heartbeats"`
	LateHeartbeatSess int     `json:"late_heartbeat_sessions"`
	MaxHeartbeatGapMs float64 `json:"max_heartbeat_gap_ms"`
	HeartbeatLeft     int     `json:"heartbeat_left"`
	GapP99ms          float64 `json:"heartbeat_gap_p99_ms"`
	GapP999ms         float64 `json:"heartbeat_gap_p999_ms"`
}

// benchProc is one `sockline bench` process.
type benchProc struct {
	*proc
	marks     *marks
	out       bytes.Buffer
	transport string
	node      int
	source    string
	sum       benchSummary
}

// startBench starts `sockline bench -json args...`.
func startBench(ps *procs, sockline, name, transport string, node int, source string, args ...string) (*benchProc, error) {
	logf, err := os.Create(filepath.Join(ps.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	b := &benchProc{transport: transport, node: node, source: source, marks: newMarks(logf)}
	p, err := ps.start(name, nil, &b.out, b.marks, sockline, append([]string{"bench", "-json", "-t", transport, "-source", source}, args...)...)
	if err != nil {
		logf.Close()
		return nil, err
	}
	b.proc = p
	go func() { <-p.exited; logf.Close() }() // exec has copied all of stderr by then
	return b, nil
}

// finish waits up to d for the bench to exit and reads its summary.
func (b *benchProc) finish(d time.Duration) error {
	select {
	case <-b.exited:
	case <-time.After(d):
		return fmt.Errorf("%s: still running %v after it was told to end", b.name, d)
	}
	if err := json.Unmarshal(b.out.Bytes(), &b.sum); err != nil {
		return fmt.Errorf("%s (exit %v): summary: %w: %s", b.name, b.err, err, b.out.String())
	}
	return nil
}

// idleResult is what an idle run measured.
type idleResult struct {
	Sessions, Nodes, Benches int
	Transports               []string
	HoldS, HeartbeatS        float64
	SlackS                   float64
	OpenS                    float64 // from the start of the benches until every session was open

	Held, OpenErrors, Dropped    int
	HeldToEnd                    int     // sessions whose heartbeats were timed to the end of the hold
	GapP99ms, GapP999ms          float64 // the worst bench's gap percentiles
	Heartbeats, Late             uint64
	LateSessions, Watched        int
	MaxGapMs                     float64
	NodesAlive                   bool
	FirstError                   string
	PerTransport                 map[string]*transportFigures
	BaselineNodesKiB             int64 // nodes, before any session
	BaselineRedisKiB             int64
	NodeKiB                      []int64 // each node at the end of the hold
	NodesKiB, RedisKiB           int64   // at the end of the hold
	PeakNodesKiB, PeakRedisKiB   int64   // the highest sample during the hold
	BenchesKiB                   int64   // the load generators, at the end of the hold
	PerSessionKiB, RedisPerSessB float64 // (end - baseline) / sessions held
}

// transportFigures are an idle run's figures for one transport.
type transportFigures struct {
	Held, Dropped, LateSessions int
	Late                        uint64
	MaxGapMs, OpenP99ms         float64
}

// runIdle runs the idle scale test.
func runIdle(ps *procs, testserver, sockline string, c idleConfig, log io.Writer) (*idleResult, error) {
	rp, raddr, err := ps.startRedis()
	if err != nil {
		return nil, err
	}
	nodes, err := ps.startNodes(testserver, c.nodes, raddr, c.heartbeat)
	if err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second)
	r := &idleResult{Sessions: c.sessions, Nodes: c.nodes, Transports: c.transports, HoldS: c.hold.Seconds(),
		HeartbeatS: c.heartbeat.Seconds(), SlackS: c.slack.Seconds(), PerTransport: map[string]*transportFigures{}}
	for _, n := range nodes {
		r.BaselineNodesKiB += rssKiB(n.pid())
	}
	r.BaselineRedisKiB = rssKiB(rp.pid())

	// As many benches as -per-bench needs, rounded up so that every node
	// and every transport gets the same number.
	unit := lcm(c.nodes, len(c.transports))
	k := (c.sessions + c.perBench - 1) / c.perBench
	k = (k + unit - 1) / unit * unit
	r.Benches = k
	start := time.Now()
	var benches []*benchProc
	for i := range k {
		n := c.sessions / k
		if i < c.sessions%k {
			n++
		}
		tr, nd := c.transports[i%len(c.transports)], i%c.nodes
		src := "127.0.0." + strconv.Itoa(c.firstSource+i)
		// The bench holds until told to end (SIGINT): -d only bounds it.
		b, err := startBench(ps, sockline, fmt.Sprintf("bench%d-%s", i, tr), tr, nd, src, "-mode", "idle", "-n", strconv.Itoa(n),
			"-openers", strconv.Itoa(c.openers), "-open-timeout", c.openTimeout.String(),
			"-d", (c.hold + time.Hour).String(), "-heartbeat", c.heartbeat.String(), "-slack", c.slack.String(), nodes[nd].url+"/echo")
		if err != nil {
			return nil, err
		}
		benches = append(benches, b)
	}
	fmt.Fprintf(log, "scale: %d benches opening %d sessions on %d nodes\n", k, c.sessions, c.nodes)
	for _, b := range benches {
		l, err := waitMark(b.proc, b.marks, "idle: ", 20*time.Minute)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "scale: %s on node%d from %s: %s\n", b.name, b.node, b.source, l)
	}
	r.OpenS = time.Since(start).Seconds()
	fmt.Fprintf(log, "scale: every bench open after %.1fs; holding for %v\n", r.OpenS, c.hold)

	sample := func() (nodesKiB, redisKiB int64) {
		for _, n := range nodes {
			nodesKiB += rssKiB(n.pid())
		}
		return nodesKiB, rssKiB(rp.pid())
	}
	holdEnd := time.Now().Add(c.hold)
	for time.Now().Before(holdEnd) {
		nk, rk := sample()
		r.PeakNodesKiB, r.PeakRedisKiB = max(r.PeakNodesKiB, nk), max(r.PeakRedisKiB, rk)
		fmt.Fprintf(log, "scale: %3.0fs left: nodes %s MiB, redis %s MiB\n", time.Until(holdEnd).Seconds(), mib(nk), mib(rk))
		for _, b := range benches {
			if !b.alive() {
				return nil, fmt.Errorf("%s ended during the hold (%v): %s", b.name, b.err, b.out.String())
			}
		}
		time.Sleep(min(10*time.Second, max(time.Until(holdEnd), 0)))
	}
	r.NodesKiB, r.RedisKiB = sample()
	r.PeakNodesKiB, r.PeakRedisKiB = max(r.PeakNodesKiB, r.NodesKiB), max(r.PeakRedisKiB, r.RedisKiB)
	for _, n := range nodes {
		r.NodeKiB = append(r.NodeKiB, rssKiB(n.pid()))
	}
	for _, b := range benches {
		r.BenchesKiB += rssKiB(b.pid())
	}
	r.NodesAlive = true
	for _, n := range nodes {
		r.NodesAlive = r.NodesAlive && n.alive()
	}
	for _, b := range benches {
		_ = b.cmd.Process.Signal(syscall.SIGINT)
	}
	for _, b := range benches {
		if err := b.finish(5 * time.Minute); err != nil {
			return nil, err
		}
		s := b.sum
		r.Held += s.Connected
		r.OpenErrors += s.Sessions - s.Connected
		r.Dropped += int(s.Dropped)
		r.Heartbeats += s.Heartbeats
		r.Late += s.LateHeartbeats
		r.LateSessions += s.LateHeartbeatSess
		r.Watched += s.HeartbeatSessions
		r.HeldToEnd += s.HeartbeatSessions
		r.MaxGapMs = max(r.MaxGapMs, s.MaxHeartbeatGapMs)
		r.GapP99ms, r.GapP999ms = max(r.GapP99ms, s.GapP99ms), max(r.GapP999ms, s.GapP999ms)
		if r.FirstError == "" {
			r.FirstError = s.FirstError
		}
		f := r.PerTransport[b.transport]
		if f == nil {
			f = &transportFigures{}
			r.PerTransport[b.transport] = f
		}
		f.Held += s.Connected
		f.Dropped += int(s.Dropped)
		f.Late += s.LateHeartbeats
		f.LateSessions += s.LateHeartbeatSess
		f.MaxGapMs = max(f.MaxGapMs, s.MaxHeartbeatGapMs)
		f.OpenP99ms = max(f.OpenP99ms, s.OpenP99ms)
	}
	if r.Held > 0 {
		r.PerSessionKiB = float64(r.NodesKiB-r.BaselineNodesKiB) / float64(r.Held)
		r.RedisPerSessB = float64(r.RedisKiB-r.BaselineRedisKiB) * 1024 / float64(r.Held)
	}
	return r, nil
}

func lcm(a, b int) int {
	g, h := a, b
	for h != 0 {
		g, h = h, g%h
	}
	return a / g * b
}

// printIdle prints an idle run's report as Markdown.
func printIdle(w io.Writer, r *idleResult) {
	fmt.Fprintf(w, "idle: %d sessions requested on %d nodes (one Redis) from %d bench processes, transports %s, heartbeat %gs, held %gs once all open (opening took %.0fs)\n\n",
		r.Sessions, r.Nodes, r.Benches, strings.Join(r.Transports, ","), r.HeartbeatS, r.HoldS, r.OpenS)
	fmt.Fprintln(w, "| opened | failed to open | ended while held | held to the end, timed | heartbeats seen | late heartbeats (sessions) | gap p99 / p999 / max | nodes alive |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|:-:|")
	fmt.Fprintf(w, "| %d | %d | %d | %d | %d | %d (%d) | %.1f / %.1f / %.1f s (limit %g s) | %v |\n\n",
		r.Held, r.OpenErrors, r.Dropped, r.HeldToEnd, r.Heartbeats, r.Late, r.LateSessions, r.GapP99ms/1000, r.GapP999ms/1000, r.MaxGapMs/1000, r.HeartbeatS+r.SlackS, r.NodesAlive)
	fmt.Fprintln(w, "| transport | held | ended | late (sessions) | longest gap | open p99 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, t := range r.Transports {
		if f := r.PerTransport[t]; f != nil {
			fmt.Fprintf(w, "| %s | %d | %d | %d (%d) | %.1f s | %.0f ms |\n", t, f.Held, f.Dropped, f.Late, f.LateSessions, f.MaxGapMs/1000, f.OpenP99ms)
		}
	}
	fmt.Fprintln(w)
	var per []string
	for i, k := range r.NodeKiB {
		per = append(per, fmt.Sprintf("node%d %s", i, mib(k)))
	}
	fmt.Fprintln(w, "| RSS (MiB) | before | end of hold | peak |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	fmt.Fprintf(w, "| %d nodes | %s | %s | %s |\n", r.Nodes, mib(r.BaselineNodesKiB), mib(r.NodesKiB), mib(r.PeakNodesKiB))
	fmt.Fprintf(w, "| redis-server | %s | %s | %s |\n", mib(r.BaselineRedisKiB), mib(r.RedisKiB), mib(r.PeakRedisKiB))
	fmt.Fprintf(w, "| nodes + redis | %s | %s | %s |\n\n", mib(r.BaselineNodesKiB+r.BaselineRedisKiB), mib(r.NodesKiB+r.RedisKiB), mib(r.PeakNodesKiB+r.PeakRedisKiB))
	fmt.Fprintf(w, "per node at the end: %s MiB; per session held: nodes %.1f KiB, redis %.0f B; the bench processes (clients) %s MiB\n",
		strings.Join(per, ", "), r.PerSessionKiB, r.RedisPerSessB, mib(r.BenchesKiB))
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
}
