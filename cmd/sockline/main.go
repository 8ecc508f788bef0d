// Command sockline is a command-line SockJS client, built on package
// client:
//
//	sockline cat URL     interactive: stdin lines are sent, messages printed (like wscat)
//	sockline probe URL   which transports work from here and, for those that fail, the likely cause and a fix
//	sockline bench URL   a load generator: echo, broadcast, idle and churn modes (-mode)
//
// URL is a SockJS endpoint such as https://example.com/echo. Install with
//
//	go install github.com/sockline/sockline/cmd/sockline@latest
//
// Run "sockline CMD -h" for each command's flags.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sockline/sockline/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usage is printed by "sockline -h" and "sockline help" (stdout), and for
// a missing or unknown command (stderr).
const usage = `usage: sockline COMMAND [flags] URL

sockline is a command-line SockJS client. URL is a SockJS endpoint, such as
https://example.com/echo (the path the server is mounted at, without /info).

commands:
  cat    send stdin lines, print received messages (like wscat)
  probe  which transports work from here and, for those that fail, the
         likely cause (a proxy stripping the websocket upgrade or buffering
         responses, an idle timeout, TLS, a refused origin, a cookie needed)
         with a hint to fix it
  bench  load generator: echo, broadcast, idle and churn modes (-mode);
         msgs/s, latency percentiles, losses
  help   this text; "sockline help COMMAND" for a command's text and flags

examples:
  echo hello | sockline cat https://example.com/echo
  sockline probe -v -idle 60s https://example.com/echo
  sockline bench -t websocket -n 100 -d 30s https://example.com/echo

Run "sockline COMMAND -h" for the flags of each.
`

// command describes a subcommand for its -h text.
type command struct {
	name     string
	about    string   // what it does, lines of at most 80 columns
	examples []string // command lines
}

var (
	catCommand = command{
		name: "cat",
		about: `Opens a session, sends every line of stdin as a message and prints every
message received on a line of its own; the connection's state goes to stderr.
At the end of stdin it waits -linger for answers, then closes. Exits 0 when the
session ended by either side's close, 1 on a failure, 2 on bad flags.`,
		examples: []string{
			"sockline cat https://example.com/echo",
			"sockline cat -t xhr-polling -H 'Authorization: Bearer TOKEN' https://example.com/chat",
			"printf 'a\\nb\\n' | sockline cat -q -linger 3s https://example.com/echo",
		},
	}
	probeCommand = command{
		name: "probe",
		about: `Tries each transport in turn (websocket, xhr-streaming, eventsource,
xhr-polling): opens a session, sends one message (-m) and waits for its echo,
so URL should be an echo endpoint. Prints a table, then for each transport that
failed what failed and the likely cause, from what probe saw with its own raw
requests: the websocket Upgrade dropped on the way, a response buffered by a
proxy, a quiet connection cut (-idle), TLS, an origin refused, a cookie needed
for sticky sessions, an HTTP error; "unknown" when it saw none of these. Each
cause comes with a hint to fix it. Exits 0 when at least one transport works,
1 when none does, 2 on bad flags.`,
		examples: []string{
			"sockline probe https://example.com/echo",
			"sockline probe -v -idle 60s https://example.com/echo",
			"sockline probe -proxy http://proxy.corp:3128 -cacert corp-ca.pem -H 'Origin: https://app.example.com' https://example.com/echo",
		},
	}
	benchCommand = command{
		name: "bench",
		about: `A load generator. -n sessions on transport -t, each keeping -w messages of -s
bytes in flight against an echo endpoint for -d; every message carries a
sequence number and its send time, so the summary gives msgs/s, p50/p99/p999
latency, errors, lost and duplicated messages. -mode broadcast: the sessions
only receive what one extra publisher session sends (-rate a second) to a
broadcasting endpoint. -mode idle and churn measure opening sessions. A progress
line goes to stderr every second. Exits 0 unless nothing connected, 2 on bad
flags.`,
		examples: []string{
			"sockline bench -t websocket -n 100 -w 4 -s 256 -d 30s https://example.com/echo",
			"sockline bench -mode broadcast -n 1000 -rate 100 https://example.com/broadcast",
			"sockline bench -json -mode churn -n 20 -d 10s https://example.com/echo",
		},
	}
	commands = []command{catCommand, probeCommand, benchCommand}
)

// run is the whole program: its exit code for the arguments and streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "cat":
		return catCmd(ctx, args[1:], stdin, stdout, stderr)
	case "probe":
		return probeCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			// "sockline help probe" is "sockline probe -h".
			return run(ctx, []string{args[1], "-h"}, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "sockline: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// headerFlag collects repeated -H "Name: value" flags.
type headerFlag http.Header

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want \"Name: value\"", v)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

// transportsFlag collects -t names, repeated or comma-separated.
type transportsFlag []string

func (t *transportsFlag) String() string { return strings.Join(*t, ",") }

func (t *transportsFlag) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			*t = append(*t, n)
		}
	}
	return nil
}

// parse parses a command's flags and its one URL argument. When it
// returns ok false the command exits with code: 0 after -h (the usage went
// to stdout), 2 after a bad flag or argument (an error and the usage went
// to stderr).
func parse(fs *flag.FlagSet, cmd command, args []string, stdout, stderr io.Writer) (url string, code int, ok bool) {
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.Usage = func() { printUsage(fs.Output(), fs, cmd) }
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = io.Copy(stdout, &out)
		return "", 0, false
	case err != nil:
		_, _ = io.Copy(stderr, &out)
		return "", 2, false
	}
	fs.SetOutput(stderr)
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "sockline %s: want one URL, got %d arguments\n\n", fs.Name(), fs.NArg())
		fs.Usage()
		return "", 2, false
	}
	return fs.Arg(0), 0, true
}

// printUsage writes a command's -h text: synopsis, what it does, examples
// and every flag with its default.
func printUsage(w io.Writer, fs *flag.FlagSet, cmd command) {
	fmt.Fprintf(w, "usage: sockline %s [flags] URL\n\n%s\n\nexamples:\n", cmd.name, cmd.about)
	for _, e := range cmd.examples {
		fmt.Fprintf(w, "  %s\n", e)
	}
	fmt.Fprintf(w, "\nflags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, text := flag.UnquoteUsage(f)
		if name != "" {
			name = " " + name
		}
		def := f.DefValue
		if def == "" || def == "[]" {
			def = "none"
		}
		fmt.Fprintf(w, "  -%s%s\n", f.Name, name)
		var lines []string
		for _, para := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			lines = append(lines, wrap(para, 72)...)
		}
		// The default goes whole at the end of the last line, or on one of
		// its own.
		def = "(default: " + def + ")"
		if last := len(lines) - 1; len(lines[last])+1+len(def) <= 72 {
			lines[last] += " " + def
		} else {
			lines = append(lines, def)
		}
		for _, line := range lines {
			fmt.Fprintf(w, "        %s\n", line)
		}
	})
}

// wrap breaks text into lines of at most width columns, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}

// describe gives a session's end in one line.
func describe(err error) string {
	if ce, ok := err.(*client.CloseError); ok {
		return fmt.Sprintf("%d %q (%v)", ce.Code, ce.Reason, ce.Err)
	}
	return err.Error()
}
