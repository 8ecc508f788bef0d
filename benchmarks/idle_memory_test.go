package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/sockjs"
)

// TestIdleMemory opens idle websocket, xhr-streaming and eventsource
// sessions against a Sockline echo server run in a child process (so that
// clients and server each stay under this box's 20000 open files), and
// prints where the server's memory per session goes: RSS, live heap,
// goroutine stacks, runtime metadata, and the allocation sites holding the
// live heap. It checks that every session stays open and gets its
// heartbeats on time while idle.
//
// By default it holds 200 sessions per transport, a quick check;
// SOCKLINE_IDLE_N sets the count (the README's figures: 10000), and
// SOCKLINE_IDLE_TRANSPORTS a comma-separated subset, and SOCKLINE_IDLE_SITES=1
// lists the live heap by allocation site (profiling every allocation, which
// adds to RSS and slows opening):
//
//	SOCKLINE_IDLE_N=10000 go test -run 'TestIdleMemory$' -v ./benchmarks/
func TestIdleMemory(t *testing.T) {
	if os.Getenv(idleChildEnv) != "" {
		t.Skip("child process: serves TestIdleMemoryChild only")
	}
	n := 200
	if s := os.Getenv("SOCKLINE_IDLE_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("SOCKLINE_IDLE_N=%q: want a positive count", s)
		}
		n = v
	}
	transports := []string{"websocket", "xhr_streaming", "eventsource"}
	if s := os.Getenv("SOCKLINE_IDLE_TRANSPORTS"); s != "" {
		transports = strings.Split(s, ",")
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { measureIdle(t, tr, n) })
	}
}

const (
	// idleChildEnv makes the test binary the server of TestIdleMemory.
	idleChildEnv = "SOCKLINE_IDLE_MEMORY_CHILD"
	// idleHeartbeat is the child's heartbeat delay: short, so that a few
	// seconds of holding check that heartbeats come on time.
	idleHeartbeat = 2 * time.Second
	// idleHold is how long sessions are held idle before the server is
	// measured; every session must get a heartbeat in each half of it. A
	// half is two heartbeat delays: on a loaded 2-core box a timer may fire
	// half a second late, and the first heartbeats of 200 sessions opened
	// over a second fall anywhere in the first delay.
	idleHold = 8 * time.Second
)

// idleStats is what the child reports about itself.
type idleStats struct {
	RSS        int64            `json:"rss"`         // VmRSS, read before any forced GC
	Classes    map[string]int64 `json:"classes"`     // runtime/metrics /memory/classes/..., after a GC
	Goroutines int64            `json:"goroutines"`  // the fewest over a heartbeat delay, after the GC
	Sites      map[string]int64 `json:"sites"`       // live heap bytes by allocation site
	SiteCounts map[string]int64 `json:"site_counts"` // live objects by allocation site
}

// measureIdle holds n idle sessions of transport tr and logs the server's
// memory per session by class.
func measureIdle(t *testing.T, tr string, n int) {
	child := startIdleChild(t)
	before := child.stats(t)
	conns := make([]*idleClient, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.conn.Close()
		}
	}()
	opened := time.Now()
	var mu sync.Mutex
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	var openErr error
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := openIdle(child.addr, tr, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if openErr == nil {
					openErr = err
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	if openErr != nil {
		t.Fatalf("opening %d %s sessions: %v", n, tr, openErr)
	}
	t.Logf("%d %s sessions open in %s", n, tr, time.Since(opened).Round(time.Millisecond))
	// Half way, every client reads what came, answering pings as a
	// browser does; then the server is left alone until it is measured.
	time.Sleep(idleHold / 2)
	forEachIdle(conns, func(c *idleClient) { c.drain() })
	time.Sleep(idleHold / 2)
	after := child.stats(t)
	// Heartbeats: every session must have had an h frame in each half of
	// idleHold; none may have ended.
	late := 0
	forEachIdle(conns, func(c *idleClient) {
		err := c.expectHeartbeat()
		mu.Lock()
		defer mu.Unlock()
		if err != nil || !c.sawHeartbeat {
			late++
			if late <= 3 {
				t.Errorf("session %d: heartbeat in the first half %v, then %v", c.id, c.sawHeartbeat, err)
			}
		}
	})
	if late > 0 {
		t.Errorf("%d of %d %s sessions had no heartbeat within %s", late, n, tr, idleHold)
	}
	reportIdle(t, tr, n, before, after)
	// On linux an idle session waits in the shared poller: the only
	// goroutine it keeps is the application's handler (a few writers
	// finishing heartbeats may still run).
	if g := float64(after.Goroutines-before.Goroutines) / float64(n); runtime.GOOS == "linux" && g > 1.5 {
		t.Errorf("%.2f goroutines per idle %s session: want the handler's alone (1)", g, tr)
	}
}

// forEachIdle runs f on every client, 50 at a time.
func forEachIdle(conns []*idleClient, f func(*idleClient)) {
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for _, c := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(c)
		}()
	}
	wg.Wait()
}

// reportIdle logs the growth from before to after divided by n.
func reportIdle(t *testing.T, tr string, n int, before, after idleStats) {
	per := func(a, b int64) string { return fmt.Sprintf("%7.2f KiB", float64(a-b)/float64(n)/1024) }
	cls := func(name string) (int64, int64) { return after.Classes[name], before.Classes[name] }
	var b strings.Builder
	fmt.Fprintf(&b, "%d idle %s sessions, server memory per session (after - before) / n:\n", n, tr)
	fmt.Fprintf(&b, "  RSS (VmRSS)                 %s\n", per(after.RSS, before.RSS))
	for _, c := range []struct{ label, name string }{
		{"heap: live objects", "/memory/classes/heap/objects:bytes"},
		{"heap: goroutine stacks", "/memory/classes/heap/stacks:bytes"},
		{"heap: unused (fragments)", "/memory/classes/heap/unused:bytes"},
		{"heap: free, not released", "/memory/classes/heap/free:bytes"},
		{"runtime metadata", "metadata"},
		{"os stacks + other", "other"},
		{"total mapped by Go", "/memory/classes/total:bytes"},
	} {
		a, bb := cls(c.name)
		fmt.Fprintf(&b, "  %-27s %s\n", c.label, per(a, bb))
	}
	fmt.Fprintf(&b, "  goroutines per session      %7.2f\n", float64(after.Goroutines-before.Goroutines)/float64(n))
	type site struct {
		name         string
		bytes, count int64
	}
	var sites []site
	for k, v := range after.Sites {
		d := v - before.Sites[k]
		if d*20 >= int64(n) { // at least 0.05 B per session
			sites = append(sites, site{k, d, after.SiteCounts[k] - before.SiteCounts[k]})
		}
	}
	sort.Slice(sites, func(i, j int) bool { return sites[i].bytes > sites[j].bytes })
	if len(sites) > 0 {
		fmt.Fprintf(&b, "  live heap by allocation site (bytes, objects per session):\n")
	}
	for i, s := range sites {
		if i == 15 {
			break
		}
		fmt.Fprintf(&b, "    %7.0f B %5.2f  %s\n", float64(s.bytes)/float64(n), float64(s.count)/float64(n), s.name)
	}
	t.Log("\n" + b.String())
}

// idleChild is the server process.
type idleChild struct {
	addr  string
	in    io.WriteCloser
	out   *bufio.Reader
	stats func(t *testing.T) idleStats
}

// startIdleChild runs this test binary as TestIdleMemoryChild and waits
// for its address; the child ends when the test does.
func startIdleChild(t *testing.T) *idleChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleMemoryChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), idleChildEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the server process: %v", err)
	}
	t.Cleanup(func() {
		_ = in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(timeout):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	c := &idleChild{in: in, out: bufio.NewReader(outPipe)}
	line, err := c.readLine()
	if err != nil || !strings.HasPrefix(line, "listening ") {
		t.Fatalf("server process: %q, %v: want \"listening ADDR\"", line, err)
	}
	c.addr = strings.TrimPrefix(line, "listening ")
	c.stats = func(t *testing.T) idleStats {
		t.Helper()
		if _, err := io.WriteString(c.in, "stats\n"); err != nil {
			t.Fatalf("asking the server process for stats: %v", err)
		}
		line, err := c.readLine()
		if err != nil {
			t.Fatalf("reading the server process's stats: %v", err)
		}
		var s idleStats
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("server process stats %q: %v", line, err)
		}
		return s
	}
	return c
}

// readLine returns the child's next line that is not test output.
func (c *idleChild) readLine() (string, error) {
	for {
		line, err := c.out.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "listening ") || strings.HasPrefix(line, "{") {
			return line, nil
		}
	}
}

// TestIdleMemoryChild is TestIdleMemory's server; it runs only in the
// child process. It serves an echo handler with a short heartbeat and
// answers "stats" lines on stdin with a JSON line on stdout until stdin
// closes.
func TestIdleMemoryChild(t *testing.T) {
	if os.Getenv(idleChildEnv) == "" {
		t.Skip("run by TestIdleMemory in a child process")
	}
	if os.Getenv("SOCKLINE_IDLE_SITES") != "" {
		// Exact sites (MemProfile records are not scaled), at a price:
		// every object gets a profiling record, which shows in RSS.
		runtime.MemProfileRate = 1
	} else {
		runtime.MemProfileRate = 0
	}
	h := sockjs.NewHandler(sockjs.Options{
		Prefix:         prefix,
		ResponseLimit:  responseLimit,
		HeartbeatDelay: idleHeartbeat,
		// The clients never answer pings: keep them from being cut.
		PongTimeout: time.Hour,
	}, func(ctx context.Context, s *sockjs.Session) {
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: timeout}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("listening %s\n", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "stats" {
			b, _ := json.Marshal(readIdleStats())
			fmt.Printf("%s\n", b)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = h.Shutdown(ctx)
	_ = srv.Shutdown(ctx)
}

// readIdleStats reads this process's RSS, then collects garbage twice
// (the heap profile is as of the last completed cycle) and reads the
// runtime's memory classes and live heap by allocation site.
func readIdleStats() idleStats {
	s := idleStats{RSS: vmRSS(), Classes: map[string]int64{}, Sites: map[string]int64{}, SiteCounts: map[string]int64{}}
	runtime.GC()
	runtime.GC()
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") || d.Name == "/sched/goroutines:goroutines" {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	for _, m := range samples {
		v := int64(m.Value.Uint64())
		switch {
		case m.Name == "/sched/goroutines:goroutines":
			s.Goroutines = v
		case strings.HasPrefix(m.Name, "/memory/classes/metadata/"):
			s.Classes["metadata"] += v
		case strings.HasPrefix(m.Name, "/memory/classes/os-stacks"), strings.HasPrefix(m.Name, "/memory/classes/other"), strings.HasPrefix(m.Name, "/memory/classes/profiling"):
			s.Classes["other"] += v
		}
		s.Classes[m.Name] = v
	}
	// The goroutines an idle session keeps: the fewest seen over a whole
	// heartbeat delay, so that writers sending a heartbeat at that moment
	// (many at once: the sessions opened together) are not counted.
	for end := time.Now().Add(idleHeartbeat + 200*time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		s.Goroutines = min(s.Goroutines, int64(runtime.NumGoroutine()))
	}
	recs := make([]runtime.MemProfileRecord, 4096)
	for {
		n, ok := runtime.MemProfile(recs, false)
		if ok {
			recs = recs[:n]
			break
		}
		recs = make([]runtime.MemProfileRecord, n+1024)
	}
	for _, r := range recs {
		site := allocSite(r.Stack())
		s.Sites[site] += r.InUseBytes()
		s.SiteCounts[site] += r.InUseObjects()
	}
	return s
}

// allocSite names an allocation by its first two frames outside the
// runtime and the standard library's containers.
func allocSite(stk []uintptr) string {
	frames := runtime.CallersFrames(stk)
	var names []string
	for {
		f, more := frames.Next()
		fn := f.Function
		if !strings.HasPrefix(fn, "runtime.") && !strings.HasPrefix(fn, "internal/") &&
			!strings.HasPrefix(fn, "strings.") && !strings.HasPrefix(fn, "bytes.") && !strings.HasPrefix(fn, "sync.") {
			if i := strings.LastIndexByte(fn, '/'); i >= 0 {
				fn = fn[i+1:]
			}
			names = append(names, fn)
			if len(names) == 2 {
				break
			}
		}
		if !more {
			break
		}
	}
	if len(names) == 0 {
		return "runtime (goroutine descriptors and the like)"
	}
	return strings.Join(names, " < ")
}

// vmRSS is this process's resident set in bytes, 0 where /proc is absent.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// idleClient is one idle session's client end: a bare connection, read
// only at the end, so that the client process holds no goroutine per
// session.
type idleClient struct {
	id   int
	tr   string
	conn net.Conn
	br   *bufio.Reader
	// sawHeartbeat: drain read an h frame.
	sawHeartbeat bool
}

// drain reads every frame that has come (answering pings) and notes
// heartbeats.
func (c *idleClient) drain() {
	_ = c.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	for {
		f, err := c.nextFrame()
		if err != nil {
			break
		}
		if len(f) == 1 && f[0] == 'h' {
			c.sawHeartbeat = true
		}
	}
	_ = c.conn.SetReadDeadline(time.Time{})
}

// openIdle opens session i over tr and reads up to its open frame.
func openIdle(addr, tr string, i int) (*idleClient, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	path := fmt.Sprintf("%s/000/idle%d/%s", prefix, i, tr)
	var req string
	switch tr {
	case "websocket":
		req = "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	case "xhr_streaming":
		req = "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 0\r\n\r\n"
	case "eventsource":
		req = "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	default:
		_ = conn.Close()
		return nil, fmt.Errorf("transport %q: want websocket, xhr_streaming or eventsource", tr)
	}
	c := &idleClient{id: i, tr: tr, conn: conn, br: bufio.NewReaderSize(conn, 512)}
	if _, err := io.WriteString(conn, req); err != nil {
		_ = conn.Close()
		return nil, err
	}
	tp, err := c.br.ReadString('\n')
	if err != nil || !(strings.Contains(tp, " 101 ") || strings.Contains(tp, " 200 ")) {
		_ = conn.Close()
		return nil, fmt.Errorf("session %d: status %q, %v", i, tp, err)
	}
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	if err := c.await('o'); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("session %d: waiting for its open frame: %w", i, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

// expectHeartbeat reads what came in while idle and wants an h frame.
func (c *idleClient) expectHeartbeat() error {
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
	return c.await('h')
}

// await reads frames until one whose SockJS frame starts with kind.
func (c *idleClient) await(kind byte) error {
	for {
		f, err := c.nextFrame()
		if err != nil {
			return err
		}
		if len(f) > 0 && f[0] == kind {
			return nil
		}
		if len(f) > 0 && f[0] == 'c' {
			return fmt.Errorf("session closed: %s", f)
		}
	}
}

// nextFrame returns the next SockJS frame (or nil for a websocket control
// frame, an HTTP chunk header or a prelude).
func (c *idleClient) nextFrame() ([]byte, error) {
	if c.tr == "websocket" {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return nil, err
		}
		n := int(h[1] & 0x7f)
		if n == 126 {
			var l [2]byte
			if _, err := io.ReadFull(c.br, l[:]); err != nil {
				return nil, err
			}
			n = int(l[0])<<8 | int(l[1])
		} else if n == 127 {
			return nil, fmt.Errorf("unexpected 64-bit frame length")
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return nil, err
		}
		if h[0]&0x0f == 9 { // a ping: answer it, masked with a zero key
			pong := append([]byte{0x8a, 0x80 | byte(n), 0, 0, 0, 0}, p...)
			if _, err := c.conn.Write(pong); err != nil {
				return nil, err
			}
		}
		if h[0]&0x0f != 1 { // not a text frame
			return nil, nil
		}
		return p, nil
	}
	// Chunked HTTP: chunk sizes, the prelude and records come as lines.
	line, err := c.br.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	line = bytes.TrimRight(line, "\r\n")
	line = bytes.TrimPrefix(line, []byte("data: "))
	// Chunk sizes are hex ("a", "c"): a frame is o or h alone, or a[ or c[.
	if s := string(line); s == "o" || s == "h" || strings.HasPrefix(s, "a[") || strings.HasPrefix(s, "c[") {
		return line, nil
	}
	return nil, nil
}
