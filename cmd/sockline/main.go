// Command sockline is a command-line SockJS client, built on package
// client:
//
//	sockline cat URL     interactive: stdin lines are sent, messages printed (like wscat)
//	sockline probe URL   which transports work from here, with open and round-trip times
//	sockline bench URL   a load generator: echo, broadcast, idle and churn modes (-mode)
//
// URL is a SockJS endpoint such as https://example.com/echo. Install with
//
//	go install github.com/sockline/sockline/cmd/sockline@latest
//
// Run "sockline CMD -h" for each command's flags.
package main

import (
	"context"
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

// usage is printed for a missing or unknown command.
const usage = `usage: sockline COMMAND [flags] URL

commands:
  cat    send stdin lines, print received messages (like wscat)
  probe  which transports work from here, with open and round-trip times
  bench  load generator: echo, broadcast, idle and churn modes (-mode); latency, losses

URL is a SockJS endpoint, e.g. https://example.com/echo.
Run "sockline COMMAND -h" for the flags of each.
`

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

// parse parses a command's flags and its one URL argument.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) (string, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "sockline %s: want one URL, got %d arguments\n", fs.Name(), fs.NArg())
		fs.Usage()
		return "", false
	}
	return fs.Arg(0), true
}

// describe gives a session's end in one line.
func describe(err error) string {
	if ce, ok := err.(*client.CloseError); ok {
		return fmt.Sprintf("%d %q (%v)", ce.Code, ce.Reason, ce.Err)
	}
	return err.Error()
}
