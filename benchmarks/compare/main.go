//go:build linux

// Command compare runs Sockline, sockjs-go v3.0.3, sockjs-node 0.3.24 and
// a raw gorilla/websocket ceiling as separate processes, drives each with
// sockline bench, and prints markdown tables of server CPU per message,
// latency and memory per idle session, with ratios to sockjs-go (and, over
// websocket, to raw gorilla).
//
//	go run ./benchmarks/compare [-rounds 3] [-d 4s] [-scenarios ws-echo,ws-idle] [-servers sockline,sockjs-go] [-json raw.json]
//
// The server is pinned to CPU 0 and sockline bench to CPU 1 (taskset -c)
// where taskset exists. Rounds are interleaved (round 1 runs every
// scenario on every server, then round 2, ...) and tables show medians
// over rounds. Every run gets a fresh server process. The server's CPU
// time comes from /proc/PID/stat over the window bench marks on stderr,
// its memory from VmRSS in /proc/PID/status. Tables go to stdout,
// progress to stderr. See benchmarks/README.md, "Out-of-process
// comparison".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is what the flags say.
type config struct {
	rounds           int
	duration         time.Duration // echo, broadcast, churn: bench -d
	settle, hold     time.Duration // idle: RSS read at open+settle, then at open+settle+hold
	scenarios        []string      // filter; nil: all
	servers          []string      // filter; nil: all
	sessions, window int
	size, rate       int
	echoRate         int  // echo: open-loop messages a second over all sessions; 0: closed loop
	syscalls         bool // count the server's system calls over the measured window (perf)
	bcastWS, bcastXS int
	idleN, openers   int
	jsonOut          string
	verbose          bool
	args             []string // the command line, for the report
	versions         string   // of Go, node and sockjs-node, for the report
	progress         io.Writer
}

// builds is where the programs were built.
type builds struct {
	root  string // module root: the servers run there (node finds node_modules)
	dir   string // temporary directory of the binaries
	bench string // sockline (cmd/sockline)
}

// list is a comma-separated flag.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }

func (l *list) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// run is the whole program: its exit code for the arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config{progress: stderr, args: args}
	fs.IntVar(&c.rounds, "rounds", 3, "interleaved rounds; tables show medians over them")
	fs.DurationVar(&c.duration, "d", 3*time.Second, "length of each echo, broadcast and churn run")
	fs.DurationVar(&c.settle, "settle", 2*time.Second, "idle: RSS is read this long after every session is open")
	fs.DurationVar(&c.hold, "hold", time.Second, "idle: and read again this long after that, the figure reported")
	fs.Var((*list)(&c.scenarios), "scenarios", "comma-separated scenario keys to run (default all; see -list)")
	fs.Var((*list)(&c.servers), "servers", "comma-separated servers to run (default all: sockline,sockjs-go,sockjs-node,gorilla)")
	fs.IntVar(&c.sessions, "n", 100, "echo: sessions")
	fs.IntVar(&c.window, "w", 10, "echo: messages in flight per session")
	fs.IntVar(&c.size, "s", 64, "message size in bytes")
	fs.IntVar(&c.rate, "rate", 100, "broadcast: messages per second from the publisher")
	fs.IntVar(&c.echoRate, "echo-rate", 0, "echo: send this many messages a second over all sessions on a schedule "+
		"(bench -rate: open loop, so every server is measured at the same throughput); 0: each session keeps -w in flight")
	fs.BoolVar(&c.syscalls, "syscalls", false, "also count the server's system calls over the measured window "+
		"(perf stat -e raw_syscalls:sys_enter; needs perf and the right to trace the server)")
	fs.IntVar(&c.bcastWS, "bcast-ws-n", 1000, "broadcast: websocket subscribers")
	fs.IntVar(&c.bcastXS, "bcast-xs-n", 500, "broadcast: xhr-streaming subscribers")
	fs.IntVar(&c.idleN, "idle-n", 10000, "idle: sessions held")
	fs.IntVar(&c.openers, "churn-n", 10, "churn: concurrent openers")
	fs.StringVar(&c.jsonOut, "json", "", "write every run's raw result to this file as JSON")
	fs.BoolVar(&c.verbose, "v", false, "copy bench's progress lines to stderr")
	listOnly := fs.Bool("list", false, "list the scenario keys and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.rounds < 1 || c.duration <= 0 || c.idleN < 1 || c.sessions < 1 || c.openers < 1 || c.echoRate < 0 {
		fmt.Fprintln(stderr, "compare: -rounds, -d, -n, -idle-n and -churn-n must be positive, -echo-rate not negative")
		return 2
	}
	if c.syscalls {
		if _, err := exec.LookPath("perf"); err != nil {
			fmt.Fprintln(stderr, "compare: -syscalls needs perf (Debian: apt-get install linux-perf)")
			return 2
		}
	}
	all := scenarios(c)
	if *listOnly {
		for _, s := range all {
			fmt.Fprintf(stdout, "%-9s %s\n", s.key, s.title)
		}
		return 0
	}
	var scs []scenario
	for _, s := range all {
		if len(c.scenarios) == 0 || slices.Contains(c.scenarios, s.key) {
			scs = append(scs, s)
		}
	}
	for _, k := range c.scenarios {
		if !slices.ContainsFunc(all, func(s scenario) bool { return s.key == k }) {
			fmt.Fprintf(stderr, "compare: unknown scenario %q (see -list)\n", k)
			return 2
		}
	}

	b, servers, err := build(ctx, stderr)
	c.versions = versions(b.root)
	if b.dir != "" {
		defer os.RemoveAll(b.dir)
	}
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 1
	}
	for _, k := range c.servers {
		if !slices.ContainsFunc(servers, func(s server) bool { return s.name == k }) {
			fmt.Fprintf(stderr, "compare: unknown server %q\n", k)
			return 2
		}
	}
	if len(c.servers) > 0 {
		servers = slices.DeleteFunc(servers, func(s server) bool { return !slices.Contains(c.servers, s.name) })
	}
	for _, sv := range servers {
		if sv.missing != "" {
			fmt.Fprintf(stderr, "compare: %s will not run: %s\n", sv.name, sv.missing)
		}
	}
	if taskset == "" {
		fmt.Fprintln(stderr, "compare: no taskset: servers and bench run unpinned")
	}

	total := 0
	for _, sc := range scs {
		for _, sv := range servers {
			if sc.applies(sv) && sv.missing == "" {
				total++
			}
		}
	}
	total *= c.rounds
	start := time.Now()
	var results []result
	n := 0
	for round := 1; round <= c.rounds && ctx.Err() == nil; round++ {
		for _, sc := range scs {
			// Rotate the order of the servers from round to round, so that
			// none always runs right after the same one.
			for i := range servers {
				sv := servers[(i+round-1)%len(servers)]
				if !sc.applies(sv) || sv.missing != "" || ctx.Err() != nil {
					continue
				}
				n++
				t0 := time.Now()
				r := runOne(ctx, c, b, sv, sc, round)
				results = append(results, r)
				fmt.Fprintf(stderr, "[round %d/%d, run %d/%d, %s] %-11s %-8s %s (%.1fs)\n", round, c.rounds, n, total,
					time.Since(start).Round(time.Second), sv.name, sc.key, brief(r, sc), time.Since(t0).Seconds())
			}
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "compare: interrupted")
		return 130
	}
	if c.jsonOut != "" {
		f, err := os.Create(c.jsonOut)
		if err == nil {
			enc := json.NewEncoder(f)
			enc.SetIndent("", "  ")
			err = enc.Encode(results)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "compare: -json: %v\n", err)
			return 1
		}
	}
	report(stdout, c, servers, scs, results, time.Since(start))
	return 0
}

// build builds sockline bench and the Go servers into a temporary
// directory, and says which servers can run.
func build(ctx context.Context, stderr io.Writer) (builds, []server, error) {
	var b builds
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return b, nil, fmt.Errorf("run from inside the sockline module (go env GOMOD: %v)", err)
	}
	b.root = filepath.Dir(strings.TrimSpace(string(out)))
	if b.dir, err = os.MkdirTemp("", "sockline-compare-"); err != nil {
		return b, nil, err
	}
	bin := func(name string) string { return filepath.Join(b.dir, name) }
	for name, pkg := range map[string]string{
		"sockline":        "./cmd/sockline",
		"server-sockline": "./benchmarks/compare/servers/sockline",
		"server-sockjsgo": "./benchmarks/compare/servers/sockjsgo",
		"server-gorilla":  "./benchmarks/compare/servers/gorilla",
	} {
		fmt.Fprintf(stderr, "compare: go build %s\n", pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin(name), pkg)
		cmd.Dir, cmd.Stderr = b.root, stderr
		if err := cmd.Run(); err != nil {
			return b, nil, fmt.Errorf("go build %s: %v", pkg, err)
		}
	}
	b.bench = bin("sockline")
	node := server{name: "sockjs-node", argv: []string{"node", "benchmarks/compare/servers/node/server.js"}}
	if p, err := exec.LookPath("node"); err != nil {
		node.missing = "no node in PATH"
	} else if _, err := os.Stat(filepath.Join(b.root, "node_modules", "sockjs", "package.json")); err != nil {
		node.missing = "node_modules/sockjs is missing (npm ci at the repository root)"
	} else {
		node.argv[0] = p
	}
	return b, []server{
		{name: "sockline", argv: []string{bin("server-sockline")}},
		{name: "sockjs-go", argv: []string{bin("server-sockjsgo")}},
		node,
		{name: "gorilla", argv: []string{bin("server-gorilla")}, wsOnly: true},
	}, nil
}

// versions names the Go toolchain, node and sockjs-node, as far as it can
// tell.
func versions(root string) string {
	v := runtime.Version()
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		v += ", node " + strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile(filepath.Join(root, "node_modules", "sockjs", "package.json")); err == nil {
		var p struct{ Version string }
		if json.Unmarshal(b, &p) == nil {
			v += ", sockjs-node " + p.Version
		}
	}
	return v + ", sockjs-go v3.0.3"
}
