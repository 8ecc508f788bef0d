package engines

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/internal/rrproxy"
	"github.com/sockline/sockline/internal/testredis"
)

// measuring reports whether $SOCKLINE_ENGINES asks for the measurements;
// they take minutes and load the machine, so `go test ./...` skips them.
func measuring(t *testing.T) {
	t.Helper()
	if os.Getenv("SOCKLINE_ENGINES") == "" {
		t.Skip("a measurement, not a test: SOCKLINE_ENGINES=1 go test -v -run Engine -timeout 30m ./benchmarks/engines/")
	}
}

// engine is one running cluster engine in processes of its own.
type engine struct {
	name  string
	flags []string     // the testserver flags that name it
	pids  func() []int // its processes, for their CPU time
}

// engines starts the engines the measurements compare, named by
// $SOCKLINE_ENGINES_ONLY (comma-separated) or all three.
func engines(t *testing.T, dir string) []engine {
	t.Helper()
	want := []string{"redis", "redis-cluster", "nats"}
	if only := os.Getenv("SOCKLINE_ENGINES_ONLY"); only != "" {
		want = strings.Split(only, ",")
	}
	var out []engine
	for _, name := range want {
		switch name {
		case "redis":
			rs := testredis.Start(t)
			out = append(out, engine{name, []string{"-redis", rs.URL()}, func() []int { return []int{rs.Pid()} }})
		case "redis-cluster":
			rc := testredis.StartCluster(t)
			out = append(out, engine{name, []string{"-redis-cluster", strings.Join(rc.Addrs(), ",")}, func() []int {
				var pids []int
				for _, s := range rc.Nodes { // masters and replicas: replication is the engine's work too
					if p := s.Pid(); p != 0 {
						pids = append(pids, p)
					}
				}
				return pids
			}})
		case "nats":
			port := freePort(t)
			p := start(t, filepath.Join(dir, "natsserver"), filepath.Join(dir, "nats.log"), nil,
				"-port", strconv.Itoa(port), "-store", t.TempDir())
			waitListening(t, port)
			out = append(out, engine{name, []string{"-nats", "nats://127.0.0.1:" + strconv.Itoa(port)}, func() []int { return []int{p.Pid} }})
		default:
			t.Fatalf("SOCKLINE_ENGINES_ONLY: unknown engine %q", name)
		}
	}
	return out
}

// build builds the test server and the NATS server into dir.
func build(t *testing.T, dir string) {
	t.Helper()
	for bin, pkg := range map[string]string{
		"testserver": "github.com/sockline/sockline/examples/testserver",
		"natsserver": "github.com/sockline/sockline/benchmarks/engines/natsserver",
	} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, bin), pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
}

// start starts a process that is killed when t ends.
func start(t *testing.T, bin, logPath string, env []string, args ...string) *os.Process {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	return cmd.Process
}

// nodes starts n testserver nodes on e and returns their URLs and pids.
func nodes(t *testing.T, dir string, e engine, n int) (urls []string, pids []int) {
	t.Helper()
	for i := range n {
		port := freePort(t)
		name := fmt.Sprintf("%s-node-%d", e.name, i+1)
		args := append([]string{"-addr", "127.0.0.1:" + strconv.Itoa(port), "-node", name}, e.flags...)
		p := start(t, filepath.Join(dir, "testserver"), filepath.Join(dir, name+".log"),
			[]string{"SOCKLINE_CLUSTER_SECRET=engines-benchmark-secret-0123456789"}, args...)
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		deadline := time.Now().Add(20 * time.Second)
		for {
			res, err := http.Get(url + "/echo/info")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not start (see %s)", name, filepath.Join(dir, name+".log"))
			}
			time.Sleep(50 * time.Millisecond)
		}
		urls, pids = append(urls, url), append(pids, p.Pid)
	}
	return urls, pids
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

func waitListening(t *testing.T, port int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %d: %v", port, err)
		}
	}
}

// cpu returns the user and system CPU time the processes have used.
func cpu(t *testing.T, pids []int) time.Duration {
	t.Helper()
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("CPU time of %d: %v", pid, err)
		}
		// Fields after the command (which may hold spaces) in parentheses:
		// utime and stime are the 14th and 15th of the whole line.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		for _, s := range f[11:13] {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/stat: %v", pid, err)
			}
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// TestEngineFanout: a broadcast from one node reaches websocket sessions on
// three nodes through each engine. Reported: deliveries per second, the
// nodes' and the engine's CPU per delivery, and the latency of a delivery.
func TestEngineFanout(t *testing.T) {
	measuring(t)
	perNode := envInt("SOCKLINE_ENGINES_SUBSCRIBERS", 300)
	msgs := envInt("SOCKLINE_ENGINES_MESSAGES", 600)
	rate := envInt("SOCKLINE_ENGINES_RATE", 100)
	dir := t.TempDir()
	build(t, dir)
	t.Logf("%d websocket sessions on each of 3 nodes, %d broadcasts at %d/s from a session on node 1", perNode, msgs, rate)
	t.Logf("%-14s %12s %14s %16s %16s %9s %9s", "engine", "deliveries", "deliveries/s", "nodes CPU/deliv", "engine CPU/msg", "p50", "p99")
	for _, e := range engines(t, dir) {
		urls, nodePids := nodes(t, dir, e, 3)
		var (
			mu   sync.Mutex
			lat  []time.Duration
			got  atomic.Int64
			subs []*client.Conn
		)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		for _, u := range urls {
			for range perNode {
				c, err := client.Dial(ctx, u+"/broadcast", &client.Options{Transports: []string{client.WebSocket}})
				if err != nil {
					t.Fatalf("%s: subscriber: %v", e.name, err)
				}
				subs = append(subs, c)
			}
		}
		var wg sync.WaitGroup
		for _, c := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range msgs {
					m, err := c.Recv(ctx)
					if err != nil {
						return
					}
					at, _ := strconv.ParseInt(m[strings.IndexByte(m, ':')+1:], 10, 64)
					d := time.Since(time.Unix(0, at))
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
					got.Add(1)
				}
			}()
		}
		pub, err := client.Dial(ctx, urls[0]+"/broadcast", &client.Options{Transports: []string{client.WebSocket}})
		if err != nil {
			t.Fatalf("%s: publisher: %v", e.name, err)
		}
		go func() { // the publisher gets every broadcast too: drain them
			for {
				if _, err := pub.Recv(ctx); err != nil {
					return
				}
			}
		}()
		n0, e0, w0 := cpu(t, nodePids), cpu(t, e.pids()), time.Now()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		for i := range msgs {
			<-tick.C
			if err := pub.Send(fmt.Sprintf("%d:%d", i, time.Now().UnixNano())); err != nil {
				t.Fatalf("%s: publish: %v", e.name, err)
			}
		}
		tick.Stop()
		want := int64(msgs * len(subs))
		for deadline := time.Now().Add(30 * time.Second); got.Load() < want && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		wall, n1, e1 := time.Since(w0), cpu(t, nodePids), cpu(t, e.pids())
		if got.Load() < want {
			t.Errorf("%s: %d deliveries of %d", e.name, got.Load(), want)
		}
		deliveries := got.Load()
		t.Logf("%-14s %12d %14.0f %13.2f us %13.1f us %9v %9v", e.name, deliveries, float64(deliveries)/wall.Seconds(),
			float64((n1-n0).Microseconds())/float64(deliveries), float64((e1-e0).Microseconds())/float64(msgs),
			percentile(lat, 0.5).Round(10*time.Microsecond), percentile(lat, 0.99).Round(10*time.Microsecond))
		cancel()
		for _, c := range append(subs, pub) {
			_ = c.Close(1000, "")
		}
		wg.Wait()
	}
}

// TestEngineCarried: xhr-polling sessions echo one message at a time
// through a round-robin proxy over two nodes, so that about half the
// requests are carried through the engine; with more sessions until
// throughput stops growing. Reported: echoes per second, the nodes' and
// the engine's CPU per echo.
func TestEngineCarried(t *testing.T) {
	measuring(t)
	d := time.Duration(envInt("SOCKLINE_ENGINES_SECONDS", 8)) * time.Second
	dir := t.TempDir()
	build(t, dir)
	t.Logf("xhr-polling echo sessions, one message in flight each, through a round-robin proxy over 2 nodes, %v per step", d)
	t.Logf("%-14s %9s %10s %15s %17s %9s", "engine", "sessions", "echoes/s", "nodes CPU/echo", "engine CPU/echo", "engine %")
	// The baseline: the same proxy over one node without a cluster.
	all := append([]engine{{name: "one node", pids: func() []int { return nil }}}, engines(t, dir)...)
	for i, e := range all {
		urls, nodePids := nodes(t, dir, e, min(i+1, 2))
		proxy := rrproxy.Start(t, urls...)
		for _, sessions := range []int{8, 32, 96} {
			ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
			var conns []*client.Conn
			for range sessions {
				c, err := client.Dial(ctx, proxy.URL+"/echo", &client.Options{Transports: []string{client.XHRPolling}})
				if err != nil {
					t.Fatalf("%s: dial: %v", e.name, err)
				}
				conns = append(conns, c)
			}
			var echoes, failed atomic.Int64
			stop := time.Now().Add(d)
			n0, e0, w0 := cpu(t, nodePids), cpu(t, e.pids()), time.Now()
			var wg sync.WaitGroup
			for _, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(stop) {
						if err := c.Send("m"); err != nil {
							failed.Add(1)
							return
						}
						if _, err := c.Recv(ctx); err != nil {
							failed.Add(1)
							return
						}
						echoes.Add(1)
					}
				}()
			}
			wg.Wait()
			wall, n1, e1 := time.Since(w0), cpu(t, nodePids), cpu(t, e.pids())
			if failed.Load() > 0 {
				t.Errorf("%s, %d sessions: %d sessions failed", e.name, sessions, failed.Load())
			}
			n := echoes.Load()
			t.Logf("%-14s %9d %10.0f %12.1f us %14.1f us %8.0f%%", e.name, sessions, float64(n)/wall.Seconds(),
				float64((n1-n0).Microseconds())/float64(n), float64((e1-e0).Microseconds())/float64(n),
				100*(e1-e0).Seconds()/wall.Seconds())
			for _, c := range conns {
				_ = c.Close(1000, "")
			}
			cancel()
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
