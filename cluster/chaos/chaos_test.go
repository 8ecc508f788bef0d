package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/internal/rrproxy"
	"github.com/sockline/sockline/internal/testredis"
)

// node is one examples/testserver process, restartable on its port under
// its name.
type node struct {
	t         *testing.T
	bin, name string
	port      int
	engine    []string // the testserver flags that name the engine
	key       string
	dir       string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// logPath is where the node's output goes, across its restarts.
func (n *node) logPath() string { return filepath.Join(n.dir, n.name+".log") }

func (n *node) url() string { return "http://127.0.0.1:" + strconv.Itoa(n.port) }

func (n *node) start() {
	n.t.Helper()
	args := append([]string{"-addr", "127.0.0.1:" + strconv.Itoa(n.port), "-node", n.name}, n.engine...)
	cmd := exec.Command(n.bin, args...)
	cmd.Env = append(os.Environ(), "SOCKLINE_CLUSTER_SECRET="+n.key)
	logf, err := os.OpenFile(n.logPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(n.url() + "/echo/info")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s did not start: %v", n.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill kills the process as kill -9 does.
func (n *node) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	_ = cmd.Process.Kill()
	<-done
}

// drain asks the process to shut down gracefully (SIGTERM), as a rolling
// deploy does, and waits for it to exit.
func (n *node) drain() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		n.t.Errorf("%s did not drain within 30s", n.name)
		_ = cmd.Process.Kill()
		<-done
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func buildTestserver(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testserver")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/sockline/sockline/examples/testserver").CombinedOutput()
	if err != nil {
		t.Fatalf("go build testserver: %v\n%s", err, out)
	}
	return bin
}

// tally records what happened to the sessions, by phase.
type tally struct {
	mu       sync.Mutex
	phase    string
	opened   map[string]int
	echoed   map[string]int
	ended    map[string]map[string]int // phase -> reason -> count
	failures []string                  // what must never happen
	recs     []*recorder
	samples  map[string][]string // phase + "|" + reason -> the last requests of one session that ended so
}

func (r *recorder) lastRequests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.last...)
}

// recorder keeps the last requests of a session, to tell what a hang was.
type recorder struct {
	mu   sync.Mutex
	last []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := http.DefaultTransport.RoundTrip(req)
	status := "error"
	if err != nil {
		status = err.Error()
	} else {
		status = res.Status
	}
	r.mu.Lock()
	r.last = append(r.last, fmt.Sprintf("%s %s %s -> %s (%v)", start.Format("15:04:05.000"), req.Method, req.URL.Path, status, time.Since(start).Round(time.Millisecond)))
	if len(r.last) > 6 {
		r.last = r.last[1:]
	}
	r.mu.Unlock()
	return res, err
}

func (ta *tally) setPhase(p string) {
	ta.mu.Lock()
	ta.phase = p
	ta.mu.Unlock()
}

func (ta *tally) add(m map[string]int) {
	ta.mu.Lock()
	m[ta.phase]++
	ta.mu.Unlock()
}

func (ta *tally) end(reason string) {
	ta.mu.Lock()
	if ta.ended[ta.phase] == nil {
		ta.ended[ta.phase] = make(map[string]int)
	}
	ta.ended[ta.phase][reason]++
	ta.mu.Unlock()
}

func (ta *tally) fail(format string, args ...any) {
	ta.mu.Lock()
	ta.failures = append(ta.failures, ta.phase+": "+fmt.Sprintf(format, args...))
	ta.mu.Unlock()
}

// worker runs sessions one after another until stop: each sends
// sequence-numbered messages tagged with its own tag, one in flight, and
// checks every echo.
func worker(ta *tally, url, transport string, id int, stop <-chan struct{}) {
	for s := 0; ; s++ {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		rec := &recorder{}
		c, err := client.Dial(ctx, url, &client.Options{Transports: []string{transport}, HTTPClient: &http.Client{Transport: rec}})
		cancel()
		if err != nil {
			time.Sleep(200 * time.Millisecond) // a refused or failed open: try again
			continue
		}
		ta.mu.Lock()
		ta.recs = append(ta.recs, rec)
		ta.mu.Unlock()
		ta.add(ta.opened)
		tag := fmt.Sprintf("%s-%d-%d", transport, id, s)
		reason := session(ta, c, rec, tag, stop)
		_ = c.Close(1000, "done")
		if reason != "" {
			// The send's error quotes the server's answer; the session ids
			// in URLs make every one unique: keep the status and text.
			if i := strings.Index(reason, "http://"); i >= 0 {
				if j := strings.Index(reason[i:], " answered "); j >= 0 {
					reason = reason[:i] + reason[i+j+1:]
				}
			}
			ta.end(reason)
			ta.mu.Lock()
			if ta.samples == nil {
				ta.samples = map[string][]string{}
			}
			if key := ta.phase + "|" + reason; ta.samples[key] == nil {
				ta.samples[key] = rec.lastRequests()
			}
			ta.mu.Unlock()
		}
	}
}

// session exchanges messages on c until stop or the session ends, and
// returns why it ended ("" when the worker stopped it).
func session(ta *tally, c *client.Conn, rec *recorder, tag string, stop <-chan struct{}) string {
	for seq := 1; ; seq++ {
		select {
		case <-stop:
			return ""
		default:
		}
		msg := tag + "|" + strconv.Itoa(seq)
		if err := c.Send(msg); err != nil {
			return endReason(err)
		}
		fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := c.Flush(fctx) // answered 204: the server has it
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, client.ErrTimeout) {
				ta.fail("%s: a send hung for 30s (until %s); last requests: %v", msg, time.Now().Format("15:04:05.000"), rec.lastRequests())
				if os.Getenv("CHAOS_STACKS") != "" {
					buf := make([]byte, 1<<20)
					n := runtime.Stack(buf, true)
					_ = os.WriteFile(os.Getenv("CHAOS_STACKS"), buf[:n], 0o644)
				}
			}
			return endReason(err)
		}
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		got, err := c.Recv(rctx)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			ta.fail("%s: accepted (204) and never echoed, while the session stayed open", msg)
			return "hung"
		case err != nil:
			return endReason(err)
		case got != msg:
			if !strings.HasPrefix(got, tag+"|") {
				ta.fail("%s: got another session's message %q", msg, got)
			} else {
				ta.fail("%s: got %q: a duplicate or out of order", msg, got)
			}
			return "wrong message"
		}
		ta.add(ta.echoed)
	}
}

func endReason(err error) string {
	var ce *client.CloseError
	if errors.As(err, &ce) {
		if ce.Err != nil && ce.Code == 1006 {
			// Which request failed, and how: the status or the network
			// error, without the ports and ids that make every one unique.
			detail := ce.Err.Error()
			if i := strings.Index(detail, "answered "); i >= 0 {
				detail = detail[i:]
			} else if i := strings.LastIndex(detail, ": "); i >= 0 {
				detail = detail[i+2:]
			}
			return fmt.Sprintf("%d %s (%s)", ce.Code, ce.Reason, detail)
		}
		return fmt.Sprintf("%d %s", ce.Code, ce.Reason)
	}
	return err.Error()
}

// engine is the store and bus the chaos test's nodes share, chosen by
// $CHAOS_ENGINE: "redis" (the default: one Redis), "redis-cluster" (three
// masters with a replica each, one of which is killed mid-run) or "nats"
// (one nats-server with JetStream, in this process; restarted empty).
type engine struct {
	name     string
	flags    []string    // the testserver flags that name it
	stop     func()      // an outage: every server killed
	start    func()      // back, empty
	failover func() bool // kill a master, wait for its replica; false: none
}

func startEngine(t *testing.T) engine {
	e := startEngineOnly(t)
	// $CHAOS_DIRECT=1: the nodes also carry requests over direct
	// connections between them (-direct, sockjs.Cluster.DirectListener),
	// which a killed or restarted node breaks mid-exchange.
	if os.Getenv("CHAOS_DIRECT") == "1" {
		e.name += "+direct"
		e.flags = append(e.flags, "-direct", "127.0.0.1")
	}
	return e
}

func startEngineOnly(t *testing.T) engine {
	switch name := os.Getenv("CHAOS_ENGINE"); name {
	case "", "redis":
		rs := testredis.Start(t)
		return engine{name: "redis", flags: []string{"-redis", rs.URL()}, stop: rs.Stop,
			start: func() { rs.Restart(t) }, failover: func() bool { return false }}
	case "redis-cluster":
		rc := testredis.StartCluster(t)
		return engine{name: name, flags: []string{"-redis-cluster", strings.Join(rc.Addrs(), ",")}, stop: rc.Stop,
			start: func() { rc.Restart(t) }, failover: func() bool { rc.KillMaster(t, nil); return true }}
	case "nats":
		ns := natstest.Start(t)
		return engine{name: name, flags: []string{"-nats", ns.URL()}, stop: ns.Stop,
			start: func() { ns.RestartEmpty(t) }, failover: func() bool { return false }}
	default:
		t.Fatalf("CHAOS_ENGINE=%q: want redis, redis-cluster or nats", name)
		return engine{}
	}
}

// Three testserver processes on one Redis behind a round-robin proxy, with
// sessions on every HTTP transport the Go client speaks, while a node is
// killed and restarted under its name, Redis restarts empty, and a node
// drains and restarts (a rolling deploy's step). No message may ever reach
// another session, be duplicated or reordered, or be accepted and then go
// missing while its session stays open; sessions of live nodes survive the
// Redis restart; a rolling deploy (every node drained and restarted in
// turn) ends only the draining node's own sessions, every other one
// survives; new sessions work at the end. The figures are printed. On a Redis Cluster
// (CHAOS_ENGINE=redis-cluster) a master is killed too, and no session ends
// meanwhile: their owners all live.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos test takes about a minute")
	}
	bin := buildTestserver(t)
	eng := startEngine(t)
	t.Logf("engine: %s", eng.name)
	var k [32]byte
	_, _ = rand.Read(k[:])
	key := hex.EncodeToString(k[:])
	var nodes []*node
	var urls []string
	for i := range 3 {
		n := &node{t: t, bin: bin, name: fmt.Sprintf("node-%d", i+1), port: freePort(t), engine: eng.flags, key: key, dir: t.TempDir()}
		n.start()
		t.Cleanup(n.kill)
		nodes = append(nodes, n)
		urls = append(urls, n.url())
	}
	proxy := rrproxy.Start(t, urls...)
	// As a balancer in front of a rolling deploy does (HAProxy's httpchk):
	// a draining node says so on its health path before it stops taking
	// connections, and gets no more requests.
	proxy.CheckHealth(t, "/healthz", 100*time.Millisecond)
	// Sessions open before the first phase begins: their counts go to a
	// phase of their own.
	ta := &tally{phase: "0 starting", opened: map[string]int{}, echoed: map[string]int{}, ended: map[string]map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, tr := range []string{client.XHRStreaming, client.EventSource, client.XHRPolling} {
		for i := range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); worker(ta, proxy.URL+"/echo", tr, i, stop) }()
		}
	}
	phase := func(name string, d time.Duration) {
		ta.setPhase(name)
		time.Sleep(d)
	}
	phase("1 steady", 5*time.Second)
	ta.setPhase("2 node-1 killed")
	nodes[0].kill()
	time.Sleep(3 * time.Second)
	nodes[0].start() // same name, same port: a new incarnation
	phase("3 node-1 restarted", 12*time.Second)
	phase("4 settled", 3*time.Second)
	ta.setPhase("5 redis down")
	eng.stop()
	time.Sleep(2 * time.Second)
	eng.start() // empty
	phase("6 redis restarted empty", 12*time.Second)
	drainBase := 7
	ta.setPhase("7 master failed over")
	if eng.failover() {
		phase("7 master failed over", 5*time.Second)
		drainBase = 8
	}
	// A rolling deploy: every node in turn drains and restarts.
	for i, n := range nodes {
		ta.setPhase(fmt.Sprintf("%d %s draining", drainBase+2*i, n.name))
		n.drain()
		n.start()
		phase(fmt.Sprintf("%d %s restarted", drainBase+1+2*i, n.name), 4*time.Second)
	}
	close(stop)
	wg.Wait()

	// New sessions work on every transport afterwards.
	for _, tr := range []string{client.XHRStreaming, client.EventSource, client.XHRPolling} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := client.Dial(ctx, proxy.URL+"/echo", &client.Options{Transports: []string{tr}})
		if err == nil {
			if err = c.Send("after"); err == nil {
				var got string
				got, err = c.Recv(ctx)
				if err == nil && got != "after" {
					err = fmt.Errorf("echo %q", got)
				}
			}
			_ = c.Close(1000, "")
		}
		cancel()
		if err != nil {
			t.Errorf("a new %s session after the chaos: %v", tr, err)
		}
	}

	var phases []string
	for p := range ta.ended {
		phases = append(phases, p)
	}
	for p := range ta.opened {
		phases = append(phases, p)
	}
	for p := range ta.echoed {
		phases = append(phases, p)
	}
	sort.Strings(phases)
	phases = compact(phases)
	total := 0
	sort.SliceStable(phases, func(i, j int) bool { return phaseNumber(phases[i]) < phaseNumber(phases[j]) })
	for _, p := range phases {
		total += ta.echoed[p]
		t.Logf("%-26s opened %4d, echoed %6d, ended: %v", p, ta.opened[p], ta.echoed[p], ta.ended[p])
	}
	t.Logf("messages echoed in all: %d", total)
	for _, f := range ta.failures {
		t.Error(f)
	}
	// A Redis restart shorter than the lease ends no session: every node
	// lives, and claims its sessions back.
	for _, p := range []string{"5 redis down", "6 redis restarted empty", "7 master failed over"} {
		if n := sum(ta.ended[p]); n > 0 {
			t.Errorf("%s: %d sessions ended (%v), want none: their nodes all live", p, n, ta.ended[p])
			for reason := range ta.ended[p] {
				if rs := ta.samples[p+"|"+reason]; rs != nil {
					t.Logf("last requests of one that ended with %q in %q: %v", reason, p, rs)
				}
			}
		}
	}
	// A drain ends only the draining node's own sessions: with 1001 when
	// the client hears it in time, else (the node has left) with 1011, or
	// 404 on a send. Sessions of the nodes that stay must all survive a
	// rolling deploy: none other ends while a node drains, and none at all
	// once it is back (its own were over by then).
	for i, n := range nodes {
		drained, back := fmt.Sprintf("%d %s draining", drainBase+2*i, n.name), fmt.Sprintf("%d %s restarted", drainBase+1+2*i, n.name)
		own, other := 0, map[string]int{}
		for reason, count := range ta.ended[drained] {
			switch {
			case strings.HasPrefix(reason, "1001 "), strings.HasPrefix(reason, "1011 "),
				strings.Contains(reason, "answered 404 Not Found"):
				own += count
			default:
				other[reason] += count
			}
		}
		for reason, count := range ta.ended[back] {
			other[reason] += count
		}
		t.Logf("%s drained and restarted: %d sessions of its own ended, %d of the other nodes", n.name, own, sum(other))
		if len(other) > 0 {
			t.Errorf("%s drained and restarted: sessions of the nodes that stay ended: %v; want none (a rolling deploy ends only the draining node's own)", n.name, other)
			for reason := range other {
				for _, p := range []string{drained, back} {
					if rs := ta.samples[p+"|"+reason]; rs != nil {
						t.Logf("last requests of one that ended with %q in %q: %v", reason, p, rs)
					}
				}
			}
		}
	}
	if t.Failed() {
		for _, n := range nodes {
			logs, _ := os.ReadFile(n.logPath())
			// $CHAOS_LOGS: a directory to keep the nodes' whole logs in.
			if dir := os.Getenv("CHAOS_LOGS"); dir != "" {
				_ = os.MkdirAll(dir, 0o755)
				_ = os.WriteFile(filepath.Join(dir, eng.name+"-"+n.name+".log"), logs, 0o644)
			}
			seen := map[string]bool{}
			for _, l := range strings.Split(string(logs), "\n") {
				if i := strings.Index(l, " WARN "); i >= 0 || strings.Contains(l, " ERROR ") || strings.Contains(l, "shut") {
					key := l[min(max(i, 0), len(l)):min(len(l), max(i, 0)+90)]
					if !seen[key] {
						seen[key] = true
						t.Logf("%s: %s", n.name, l)
					}
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("no message was echoed: the chaos test exercised nothing")
	}
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// phaseNumber is the number a phase's name starts with ("3 node-1
// restarted"), or -1 for a name without one.
func phaseNumber(p string) int {
	f := strings.Fields(p)
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return -1
	}
	return n
}
