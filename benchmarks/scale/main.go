//go:build linux

// Command scale runs the scale tests of issue 23 on this one machine,
// for real: it builds examples/testserver and cmd/sockline once, starts a
// private redis-server and testserver nodes on free ports of 127.0.0.1,
// spreads the load over several `sockline bench` processes (each under
// the per-process file limit, each from a loopback source address of its
// own, so that each gets its own ephemeral ports), samples the servers
// from /proc, stops every process it started, and prints a report.
//
//	go run ./benchmarks/scale -mode idle -sessions 100000 -nodes 6 -hold 5m -transports mixed
//	go run ./benchmarks/scale -mode broadcast -cases 1x1000,1x10000,2x10000 -rate 50 -d 30s
//
// Idle mode holds -sessions sessions of /echo, quiet, for -hold once every
// one of them is open; every bench process times every session's
// heartbeat frames (bench -heartbeat) and the report gives the sessions
// held and ended, the late heartbeats, and the RSS of each node and of
// redis-server. Broadcast mode runs each case NxM (N nodes, M websocket
// subscribers on each; "1x" is one node without Redis, "1rx" one node on
// Redis): one publisher on the first node sends -rate messages a second
// for -d to /broadcast, and the report gives the server CPU time per
// delivery and the delivery latency percentiles. See README.md for the
// figures measured.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// allTransports are the transports of a mixed idle run.
var allTransports = []string{"websocket", "xhr-streaming", "eventsource", "xhr-polling"}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "idle", "idle or broadcast")
	var ic idleConfig
	fs.IntVar(&ic.sessions, "sessions", 1000, "idle: sessions held in all")
	fs.IntVar(&ic.nodes, "nodes", 6, "idle: testserver nodes on one Redis")
	fs.IntVar(&ic.perBench, "per-bench", 8400, "idle: sessions per bench process at most (each holds about one file per session)")
	fs.DurationVar(&ic.hold, "hold", 30*time.Second, "idle: how long every session is held once all are open")
	fs.DurationVar(&ic.heartbeat, "heartbeat", 25*time.Second, "the nodes' heartbeat delay")
	fs.IntVar(&ic.openers, "openers", 10, "idle: sessions each bench process opens at a time")
	fs.DurationVar(&ic.openTimeout, "open-timeout", 30*time.Second, "how long a session may take to open (bench -open-timeout): the box is loaded while 100k open")
	fs.DurationVar(&ic.slack, "slack", 5*time.Second, "idle: how late a heartbeat may be before it counts as late")
	transports := fs.String("transports", "mixed", "idle: mixed (websocket, xhr-streaming, eventsource, xhr-polling) or a comma-separated list")
	var bc broadcastConfig
	cases := fs.String("cases", "1x1000,1x10000,2x10000", "broadcast: NxM cases, N nodes (1r: one node on Redis) of M subscribers each")
	fs.IntVar(&bc.rate, "rate", 50, "broadcast: messages a second from the publisher")
	fs.DurationVar(&bc.duration, "d", 30*time.Second, "broadcast: how long the publisher sends")
	fs.StringVar(&bc.transport, "t", "websocket", "broadcast: the subscribers' transport")
	fs.IntVar(&bc.size, "s", 64, "broadcast: bytes per message")
	fs.IntVar(&bc.repeat, "repeat", 1, "broadcast: runs of each case (the cases take turns); the report adds their medians")
	firstSource := fs.Int("source", 10, "the bench processes connect from 127.0.0.N, 127.0.0.N+1, ...")
	out := fs.String("out", "", "also write the results as JSON to `file`")
	keep := fs.Bool("keep", false, "keep the directory of logs and binaries")
	prebuilt := fs.String("testserver", "", "run this testserver `binary` instead of building ./examples/testserver (to measure another build, such as one with a fix)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ic.firstSource, bc.firstSource = *firstSource, *firstSource
	bc.heartbeat = ic.heartbeat
	if *transports == "mixed" {
		ic.transports = allTransports
	} else {
		ic.transports = strings.Split(*transports, ",")
	}
	var err error
	if bc.cases, err = parseCases(*cases); err != nil {
		fmt.Fprintln(stderr, "scale:", err)
		return 2
	}
	if *mode != "idle" && *mode != "broadcast" {
		fmt.Fprintf(stderr, "scale: -mode %q: want idle or broadcast\n", *mode)
		return 2
	}

	limit, err := raiseFileLimit()
	if err != nil {
		fmt.Fprintln(stderr, "scale:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "sockline-scale-")
	if err != nil {
		fmt.Fprintln(stderr, "scale:", err)
		return 1
	}
	ps := &procs{dir: dir}
	// Whatever happens (an error, ^C), every process started is stopped.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		<-sig
		fmt.Fprintln(stderr, "scale: interrupted: stopping every process")
		ps.stopAll()
		os.Exit(130)
	}()
	defer func() {
		ps.stopAll()
		if !*keep {
			_ = os.RemoveAll(dir)
		}
	}()
	fmt.Fprintf(stderr, "scale: files per process %d; logs in %s\n", limit, dir)
	bin, sockline, err := ps.build()
	if err != nil {
		fmt.Fprintln(stderr, "scale:", err)
		return 1
	}
	if *prebuilt != "" {
		bin = *prebuilt
	}
	started := time.Now().UTC()
	var result any
	if *mode == "idle" {
		r, err := runIdle(ps, bin, sockline, ic, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "scale:", err)
			return 1
		}
		printIdle(stdout, r)
		result = r
	} else {
		r, err := runBroadcast(ps, bin, sockline, bc, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "scale:", err)
			return 1
		}
		printBroadcast(stdout, r)
		result = r
	}
	if *out != "" {
		b, _ := json.MarshalIndent(map[string]any{"date": started.Format(time.RFC3339), "args": args, "result": result}, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "scale:", err)
			return 1
		}
	}
	return 0
}

// mib formats KiB as MiB.
func mib(kib int64) string { return fmt.Sprintf("%.0f", float64(kib)/1024) }
