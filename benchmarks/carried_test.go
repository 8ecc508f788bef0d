package benchmarks

// BenchmarkClusterCarried measures what carrying a request to its session's
// node costs, against serving it where it lands: the cluster's "carried
// requests within 2x of local" requirement.
//
// The nodes (sockjs.Handler with Cluster on a private redis-server) run in
// the benchmark's process; the clients and the round-robin proxy in front
// of the nodes (internal/rrproxy) run in a child process, this test binary
// again running TestClusterCarriedDriver. So the process's own CPU time is
// the nodes' alone (their HTTP servers, the transports, the tunnel, the
// Redis client), redis-server's is read from its INFO, and a -cpuprofile of
// the benchmark shows the nodes only.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/rrproxy"
	"github.com/sockline/sockline/internal/testredis"
	"github.com/sockline/sockline/sockjs"
)

// carriedDriverEnv holds the driver's configuration (JSON) in the child
// process; TestClusterCarriedDriver skips without it.
const carriedDriverEnv = "SOCKLINE_CARRIED_DRIVER"

// carriedStreamLimit is the nodes' ResponseLimit. Each xhr_streaming
// response ends after about 180 echoes of 16-byte messages and the client
// opens the next one through the proxy, so over a run half of the streams
// land on a node that does not own their session and are carried, as half
// of the sends are. With the default 128 KiB a run would mostly see the
// first stream of each session, which the request that created the session
// opened on its owner: carrying would then only touch the sends.
const carriedStreamLimit = 4 << 10

// carriedWarmup is how many round trips each session makes before the
// measured window (connections pooled, owners cached, streams cycled).
const carriedWarmup = 200

// carriedSecret is the nodes' Cluster.Secret.
var carriedSecret = []byte("benchmark cluster secret........")

// carriedConfig is what the driver process is told.
type carriedConfig struct {
	Backends  []string `json:"backends"`
	Transport string   `json:"transport"`
	Sessions  int      `json:"sessions"`
	Warmup    int      `json:"warmup"`
	Msgs      int      `json:"msgs"`
}

// carriedDriverResult is what the driver reports of the measured window.
type carriedDriverResult struct {
	Msgs int   `json:"msgs"`
	P50  int64 `json:"p50_ns"`
	P99  int64 `json:"p99_ns"`
	CPU  int64 `json:"cpu_ns"` // the driver's own: clients and proxy
	Wall int64 `json:"wall_ns"`
}

// carriedResult is one measured window.
type carriedResult struct {
	driver    carriedDriverResult
	nodeCPU   time.Duration // this process: the nodes
	redisCPU  time.Duration // redis-server
	redisCmds int64         // commands redis-server processed
	publishes int64         // of which PUBLISH
	// Session requests the nodes got: all, those for a session another
	// node owns (carried), receiving ones (polls, streams), and carried
	// receiving ones.
	requests, carried, receiving, carriedRecv int64
}

func (r carriedResult) cpuPerMsg() float64 {
	return float64(r.nodeCPU+r.redisCPU) / float64(r.driver.Msgs)
}

// carriedNode is one node and what its requests were.
type carriedNode struct {
	h   *sockjs.Handler
	srv *httptest.Server

	requests, carried, receiving, carriedRecv atomic.Int64
}

// carriedEngine is what the nodes share, chosen by $BENCH_ENGINE: one
// private redis-server (the default, "redis"), or a Redis Cluster of three
// masters with a replica each ("redis-cluster").
type carriedEngine struct {
	name   string
	addrs  []string // every server, whose CPU and commands count
	client func() (goredis.UniversalClient, error)
}

func startCarriedEngine(tb testing.TB) carriedEngine {
	tb.Helper()
	switch name := os.Getenv("BENCH_ENGINE"); name {
	case "", "redis":
		rs := testredis.Start(tb)
		return carriedEngine{name: "redis", addrs: []string{rs.Addr()},
			client: func() (goredis.UniversalClient, error) { return redis.NewClient(rs.URL()) }}
	case "redis-cluster":
		rc := testredis.StartCluster(tb)
		return carriedEngine{name: name, addrs: rc.Addrs(),
			client: func() (goredis.UniversalClient, error) {
				return redis.NewClusterClient(rc.Addrs(), redis.ClientOptions{})
			}}
	default:
		tb.Fatalf("BENCH_ENGINE=%q: want redis or redis-cluster", name)
		return carriedEngine{}
	}
}

// carriedNodes starts n echo nodes with Cluster on the engine; every node
// has its own Redis connections, as separate processes would. With direct,
// the nodes also take direct connections from each other
// (Cluster.DirectListener), and carried requests use them.
func carriedNodes(tb testing.TB, n int, direct bool) ([]*carriedNode, carriedEngine) {
	tb.Helper()
	rs := startCarriedEngine(tb)
	var owners sync.Map // session id -> *carriedNode that runs it
	var nodes []*carriedNode
	for i := range n {
		rdb, err := rs.client()
		if err != nil {
			tb.Fatal(err)
		}
		store, err := redis.NewStore(rdb, redis.StoreOptions{Node: fmt.Sprint("n", i)})
		if err != nil {
			tb.Fatal(err)
		}
		bus := redis.NewBus(rdb, redis.BusOptions{})
		cl := &sockjs.Cluster{Store: store, Bus: bus, Secret: carriedSecret}
		if direct {
			if cl.DirectListener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				tb.Fatal(err)
			}
		}
		cn := &carriedNode{}
		cn.h = sockjs.NewHandler(sockjs.Options{
			ResponseLimit: carriedStreamLimit,
			Cluster:       cl,
		}, func(ctx context.Context, s *sockjs.Session) {
			owners.Store(s.ID(), cn)
			defer owners.Delete(s.ID())
			for {
				m, err := s.Recv(ctx)
				if err != nil {
					return
				}
				if s.Send(m) != nil {
					return
				}
			}
		})
		cn.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// /{server}/{session}/{transport}: count it, and whether this
			// node owns the session (a session being created has no owner
			// yet and counts as local).
			if parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/"); len(parts) == 3 {
				cn.requests.Add(1)
				recv := parts[2] == "xhr" || parts[2] == "xhr_streaming"
				if recv {
					cn.receiving.Add(1)
				}
				if o, ok := owners.Load(parts[1]); ok && o.(*carriedNode) != cn {
					cn.carried.Add(1)
					if recv {
						cn.carriedRecv.Add(1)
					}
				}
			}
			cn.h.ServeHTTP(w, r)
		}))
		tb.Cleanup(func() {
			cn.srv.CloseClientConnections()
			cn.srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_ = cn.h.Shutdown(ctx)
			_ = bus.Close()
			_ = rdb.Close()
		})
		nodes = append(nodes, cn)
	}
	return nodes, rs
}

// redisCounters is redis-server's CPU time (user + system, its getrusage)
// and command counts.
type redisCounters struct {
	cpu             time.Duration
	cmds, publishes int64
}

func readRedis(ctx context.Context, info func(context.Context) (string, error)) (redisCounters, error) {
	s, err := info(ctx)
	if err != nil {
		return redisCounters{}, err
	}
	var rc redisCounters
	var seen int
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_cpu_sys", "used_cpu_user":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return rc, fmt.Errorf("redis INFO %s: %w", k, err)
			}
			rc.cpu += time.Duration(math.Round(f * 1e9))
			seen++
		case "total_commands_processed":
			rc.cmds, _ = strconv.ParseInt(v, 10, 64)
		case "cmdstat_publish", "cmdstat_spublish":
			for f := range strings.SplitSeq(v, ",") {
				if n, ok := strings.CutPrefix(f, "calls="); ok {
					calls, _ := strconv.ParseInt(n, 10, 64)
					rc.publishes += calls
				}
			}
		}
	}
	if seen != 2 {
		return rc, fmt.Errorf("redis INFO without used_cpu_sys and used_cpu_user: %q", s)
	}
	return rc, nil
}

// measureCarried runs msgs echoes (one in flight per session) through a
// round-robin proxy over nodes nodes, and measures them. start and stop
// (when not nil) run at the edges of the measured window.
func measureCarried(tb testing.TB, transport string, nodes, sessions, msgs int, direct bool, start, stop func()) carriedResult {
	tb.Helper()
	ns, rs := carriedNodes(tb, nodes, direct)
	var servers []*goredis.Client
	for _, a := range rs.addrs {
		c := goredis.NewClient(&goredis.Options{Addr: a})
		defer c.Close()
		servers = append(servers, c)
	}
	// readAll sums the counters of every server of the engine.
	readAll := func(ctx context.Context) (redisCounters, error) {
		var sum redisCounters
		for _, c := range servers {
			rc, err := readRedis(ctx, func(ctx context.Context) (string, error) {
				return c.Info(ctx, "cpu", "stats", "commandstats").Result()
			})
			if err != nil {
				return sum, err
			}
			sum.cpu += rc.cpu
			sum.cmds += rc.cmds
			sum.publishes += rc.publishes
		}
		return sum, nil
	}
	cfg := carriedConfig{Transport: transport, Sessions: sessions, Warmup: carriedWarmup, Msgs: msgs}
	for _, n := range ns {
		cfg.Backends = append(cfg.Backends, n.srv.URL)
	}
	d := startCarriedDriver(tb, cfg)
	defer d.stop()

	if err := d.await("ready", 2*time.Minute); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r0, err := readAll(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var req0, car0, recv0, carRecv0 int64
	for _, n := range ns {
		req0 += n.requests.Load()
		car0 += n.carried.Load()
		recv0 += n.receiving.Load()
		carRecv0 += n.carriedRecv.Load()
	}
	if start != nil {
		start()
	}
	cpu0, cpuOK := processCPU()
	if _, err := io.WriteString(d.stdin, "go\n"); err != nil {
		tb.Fatalf("driver: %v\n%s", err, d.output())
	}
	// Every round trip of the driver is bounded by timeout; this only
	// catches a driver that stopped answering altogether.
	if err := d.await("done", time.Minute+time.Duration(msgs)*timeout/10); err != nil {
		tb.Fatal(err)
	}
	cpu1, _ := processCPU()
	if stop != nil {
		stop()
	}
	var res carriedResult
	if err := json.Unmarshal([]byte(d.payload), &res.driver); err != nil {
		tb.Fatalf("driver result %q: %v", d.payload, err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), timeout)
	defer cancel2()
	r1, err := readAll(ctx2)
	if err != nil {
		tb.Fatal(err)
	}
	if !cpuOK {
		tb.Fatal("the process's CPU time cannot be read here")
	}
	res.nodeCPU = cpu1 - cpu0
	res.redisCPU = r1.cpu - r0.cpu
	res.redisCmds = r1.cmds - r0.cmds - int64(len(servers)) // not the INFOs themselves
	res.publishes = r1.publishes - r0.publishes
	for _, n := range ns {
		res.requests += n.requests.Load()
		res.carried += n.carried.Load()
		res.receiving += n.receiving.Load()
		res.carriedRecv += n.carriedRecv.Load()
	}
	res.requests -= req0
	res.carried -= car0
	res.receiving -= recv0
	res.carriedRecv -= carRecv0
	if err := d.finish(); err != nil {
		tb.Fatal(err)
	}
	return res
}

// carriedLocal keeps the last one-node result of each transport and
// session count, so the two-node run after it reports ratios against it.
var carriedLocal = struct {
	sync.Mutex
	m map[string]carriedResult
}{m: make(map[string]carriedResult)}

// BenchmarkClusterCarried is one message echoed (sent, and received back)
// per op, over xhr-polling and xhr-streaming, through a round-robin proxy
// over one node (nodes=1: nothing is carried) or two (nodes=2: about every
// other request lands on the node that does not own its session, and is
// carried to the owner over Redis), or two with direct connections
// (nodes=2/direct: the carried requests' messages go over a TCP connection
// between the nodes; Redis only for the first exchange, ownership and
// liveness). All have Cluster on the same kind of redis-server, so carrying
// is the only difference. Each session has one message in flight at a time.
//
// Metrics: p50-us and p99-us (round trip, from Send to the echo's Recv, in
// the client), cpu-ns/msg (the nodes' CPU plus redis-server's per message;
// node-cpu-ns/msg and redis-cpu-ns/msg are its parts), driver-cpu-ns/msg
// (the clients' and the proxy's, in their own process, not in cpu-ns/msg),
// redis-cmds/msg, publish/msg, carried-frac (the share of session requests
// that reached a node not owning the session) and recv-req/msg (polls or
// streams opened per message). The nodes=2 line also has p50-x, p99-x and
// cpu-x: its figures over the nodes=1 run just before it in the same
// process.
//
// Run it with a fixed count, so both sides echo as many messages:
//
//	go test -run '^$' -bench ClusterCarried -benchtime 3000x ./benchmarks/
//
// BENCH_ENGINE=redis-cluster runs the nodes on a Redis Cluster (three
// masters, a replica each) instead; the engine's CPU and commands are then
// those of its six servers.
func BenchmarkClusterCarried(b *testing.B) {
	for _, transport := range []string{client.XHRPolling, client.XHRStreaming} {
		for _, sessions := range []int{1, 8} {
			for _, mode := range []struct {
				nodes  int
				direct bool
			}{{1, false}, {2, false}, {2, true}} {
				nodes := mode.nodes
				name := fmt.Sprintf("transport=%s/sessions=%d/nodes=%d", transport, sessions, nodes)
				if mode.direct {
					name += "/direct"
				}
				b.Run(name, func(b *testing.B) {
					r := measureCarried(b, transport, nodes, sessions, b.N, mode.direct, b.ResetTimer, b.StopTimer)
					reportCarried(b, r)
					key := fmt.Sprint(transport, "/", sessions)
					carriedLocal.Lock()
					defer carriedLocal.Unlock()
					if nodes == 1 {
						carriedLocal.m[key] = r
						return
					}
					if l, ok := carriedLocal.m[key]; ok && l.driver.P50 > 0 && l.cpuPerMsg() > 0 {
						p50x := float64(r.driver.P50) / float64(l.driver.P50)
						p99x := float64(r.driver.P99) / float64(l.driver.P99)
						cpux := r.cpuPerMsg() / l.cpuPerMsg()
						b.ReportMetric(p50x, "p50-x")
						b.ReportMetric(p99x, "p99-x")
						b.ReportMetric(cpux, "cpu-x")
						if b.N > 1 {
							b.Logf("carried/local (%s, %d sessions, %d msgs): p50 %.2fx (%.0f/%.0f µs), p99 %.2fx, CPU/msg %.2fx (%.1f/%.1f µs, nodes+redis)",
								transport, sessions, b.N, p50x, us(r.driver.P50), us(l.driver.P50), p99x, cpux, r.cpuPerMsg()/1e3, l.cpuPerMsg()/1e3)
						}
					}
				})
			}
		}
	}
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

func reportCarried(b *testing.B, r carriedResult) {
	n := float64(r.driver.Msgs)
	b.ReportMetric(us(r.driver.P50), "p50-us")
	b.ReportMetric(us(r.driver.P99), "p99-us")
	b.ReportMetric(r.cpuPerMsg(), "cpu-ns/msg")
	b.ReportMetric(float64(r.nodeCPU)/n, "node-cpu-ns/msg")
	b.ReportMetric(float64(r.redisCPU)/n, "redis-cpu-ns/msg")
	b.ReportMetric(float64(r.driver.CPU)/n, "driver-cpu-ns/msg")
	b.ReportMetric(float64(r.redisCmds)/n, "redis-cmds/msg")
	b.ReportMetric(float64(r.publishes)/n, "publish/msg")
	b.ReportMetric(float64(r.receiving)/n, "recv-req/msg")
	if r.requests > 0 {
		b.ReportMetric(float64(r.carried)/float64(r.requests), "carried-frac")
	}
	if r.receiving > 0 {
		b.ReportMetric(float64(r.carriedRecv)/float64(r.receiving), "carried-recv-frac")
	}
}

// TestClusterCarriedHarness checks that BenchmarkClusterCarried measures
// what it says: messages echo through the driver process, nothing is
// carried over one node, and over two some requests are, over Redis.
func TestClusterCarriedHarness(t *testing.T) {
	for _, transport := range []string{client.XHRPolling, client.XHRStreaming} {
		t.Run(transport, func(t *testing.T) {
			local := measureCarried(t, transport, 1, 2, 40, false, nil, nil)
			carried := measureCarried(t, transport, 2, 2, 40, false, nil, nil)
			direct := measureCarried(t, transport, 2, 2, 40, true, nil, nil)
			for _, r := range []carriedResult{local, carried, direct} {
				if r.driver.Msgs != 40 || r.driver.P50 <= 0 || r.driver.P99 < r.driver.P50 {
					t.Errorf("driver result %+v, want 40 messages with round trips", r.driver)
				}
				if r.requests == 0 || r.nodeCPU <= 0 {
					t.Errorf("no requests or no CPU time seen on the nodes: %+v", r)
				}
			}
			if local.carried != 0 || local.publishes != 0 {
				t.Errorf("one node: %d requests carried, %d publishes; want none", local.carried, local.publishes)
			}
			if carried.carried == 0 || carried.publishes == 0 {
				t.Errorf("two nodes: %d requests carried, %d publishes; want some", carried.carried, carried.publishes)
			}
		})
	}
}

// carriedDriver is the driver process, seen from the benchmark.
type carriedDriver struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string   // the driver's protocol lines, prefix removed
	eof     chan struct{} // closed when its stdout has been read out
	stderr  bytes.Buffer
	mu      sync.Mutex
	other   bytes.Buffer // the rest of its stdout
	payload string       // of the last line awaited
	waited  bool
	waitErr error
}

const carriedLinePrefix = "carried-driver: "

func startCarriedDriver(tb testing.TB, cfg carriedConfig) *carriedDriver {
	tb.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	d := &carriedDriver{lines: make(chan string, 4), eof: make(chan struct{})}
	d.cmd = exec.Command(os.Args[0], "-test.run=^TestClusterCarriedDriver$", "-test.count=1", "-test.v=false")
	d.cmd.Env = append(os.Environ(), carriedDriverEnv+"="+string(js))
	d.cmd.Stderr = &d.stderr
	if d.stdin, err = d.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		defer close(d.eof)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), carriedLinePrefix); ok {
				d.lines <- p
				continue
			}
			d.mu.Lock()
			d.other.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
		}
	}()
	return d
}

// await waits for the driver's line that starts with word.
func (d *carriedDriver) await(word string, limit time.Duration) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case l := <-d.lines:
		w, rest, _ := strings.Cut(l, " ")
		if w != word {
			return fmt.Errorf("driver said %q, want %q\n%s", l, word, d.output())
		}
		d.payload = rest
		return nil
	case <-d.eof:
		_ = d.wait()
		return fmt.Errorf("driver ended before %q: %v\n%s", word, d.waitErr, d.output())
	case <-t.C:
		return fmt.Errorf("driver: no %q within %v\n%s", word, limit, d.output())
	}
}

func (d *carriedDriver) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.other.String() + d.stderr.String()
}

// finish lets the driver close its sessions and waits for it to exit.
func (d *carriedDriver) finish() error {
	_ = d.stdin.Close()
	t := time.NewTimer(2 * timeout)
	defer t.Stop()
	select {
	case <-d.eof:
	case <-t.C:
		d.stop()
		return fmt.Errorf("driver did not exit\n%s", d.output())
	}
	if err := d.wait(); err != nil {
		return fmt.Errorf("driver: %v\n%s", err, d.output())
	}
	return nil
}

// stop kills the driver if it still runs.
func (d *carriedDriver) stop() {
	_ = d.stdin.Close()
	select {
	case <-d.eof:
	default:
		_ = d.cmd.Process.Kill()
		<-d.eof
	}
	_ = d.wait()
}

func (d *carriedDriver) wait() error {
	if !d.waited {
		d.waited = true
		d.waitErr = d.cmd.Wait()
	}
	return d.waitErr
}

// TestClusterCarriedDriver is the client side of BenchmarkClusterCarried,
// in a process of its own: it skips unless the benchmark started it (with
// its configuration in $SOCKLINE_CARRIED_DRIVER). It opens the sessions
// through a round-robin proxy over the nodes, warms them up, says
// "ready", waits for "go" on stdin, echoes the messages and says "done"
// with the round trips and its own CPU time as JSON.
func TestClusterCarriedDriver(t *testing.T) {
	js := os.Getenv(carriedDriverEnv)
	if js == "" {
		t.Skip("run by BenchmarkClusterCarried")
	}
	var cfg carriedConfig
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		t.Fatal(err)
	}
	// The proxy forwards on http.DefaultTransport, which keeps 2 idle
	// connections per backend: with several sessions (a poll or stream
	// and a send each) that would open new connections to the nodes all
	// the time. This process is the driver's alone.
	dt := http.DefaultTransport.(*http.Transport)
	dt.MaxIdleConnsPerHost = 256
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	// Registered before the proxy's cleanup, so they run after it: the
	// proxy forwards the sessions' last requests (their close) until it
	// stops, and may pool a connection for them after any earlier close.
	t.Cleanup(dt.CloseIdleConnections)
	t.Cleanup(tr.CloseIdleConnections)
	proxy := rrproxy.Start(t, cfg.Backends...)
	opts := &client.Options{Transports: []string{cfg.Transport}, HTTPClient: &http.Client{Transport: tr}}

	conns := make([]*client.Conn, cfg.Sessions)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close(1000, "bye")
			}
		}
	}()
	for i := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		c, err := client.Dial(ctx, proxy.URL, opts)
		cancel()
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if c.Transport() != cfg.Transport {
			t.Fatalf("session %d opened over %s, want %s", i, c.Transport(), cfg.Transport)
		}
		conns[i] = c
	}

	// echo runs n round trips on every session at once, from a shared
	// count, and returns the round trips.
	echo := func(n int, perSession bool) ([]time.Duration, error) {
		var next atomic.Int64
		rtts := make([][]time.Duration, len(conns))
		errs := make([]error, len(conns))
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Go(func() {
				for k := 0; ; k++ {
					var seq int64
					if perSession {
						if k == n {
							return
						}
						seq = int64(i*n + k)
					} else if seq = next.Add(1); seq > int64(n) {
						return
					}
					msg := fmt.Sprintf("m%015d", seq)
					t0 := time.Now()
					if err := c.Send(msg); err != nil {
						errs[i] = err
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					got, err := c.Recv(ctx)
					cancel()
					if err != nil {
						errs[i] = fmt.Errorf("session %d, message %d: %w", i, seq, err)
						return
					}
					rtts[i] = append(rtts[i], time.Since(t0))
					if got != msg {
						errs[i] = fmt.Errorf("session %d: got %q, want %q", i, got, msg)
						return
					}
				}
			})
		}
		wg.Wait()
		var all []time.Duration
		for i := range conns {
			if errs[i] != nil {
				return nil, errs[i]
			}
			all = append(all, rtts[i]...)
		}
		return all, nil
	}

	if _, err := echo(cfg.Warmup, true); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	fmt.Printf("%sready\n", carriedLinePrefix)
	if l, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil || l != "go\n" {
		t.Fatalf("stdin: %q, %v", l, err)
	}
	cpu0, _ := processCPU()
	t0 := time.Now()
	rtts, err := echo(cfg.Msgs, false)
	wall := time.Since(t0)
	cpu1, _ := processCPU()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rtts)
	res := carriedDriverResult{Msgs: len(rtts), P50: int64(quantile(rtts, 0.50)), P99: int64(quantile(rtts, 0.99)),
		CPU: int64(cpu1 - cpu0), Wall: int64(wall)}
	out, _ := json.Marshal(res)
	fmt.Printf("%sdone %s\n", carriedLinePrefix, out)
	// Stay until the benchmark has read its counters, so that closing the
	// sessions is not in its window.
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// quantile returns the nearest-rank q-quantile of sorted d.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}
