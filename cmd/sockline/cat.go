package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sockline/sockline/client"
)

// catCmd connects, sends every line of stdin as a message and prints every
// message received on a line of its own. At the end of stdin it waits
// -linger for answers, then closes. It exits 0 when the session ended by
// either side's close, 1 on a failure.
func catCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cat", flag.ContinueOnError)
	var transports transportsFlag
	header := headerFlag(http.Header{})
	fs.Var(&transports, "t", "`transport` to use: websocket, xhr-streaming, eventsource, xhr-polling (repeatable or comma-separated; none: every one the server offers, in sockjs-client's order)")
	fs.Var(header, "H", "add the header `'Name: value'` to every request, the websocket handshake included (repeatable)")
	linger := fs.Duration("linger", time.Second, "after the end of stdin, how long to wait for messages before closing")
	quiet := fs.Bool("q", false, "print only messages, not the connection's state on stderr")
	url, code, ok := parse(fs, catCommand, args, stdout, stderr)
	if !ok {
		return code
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := client.Dial(dctx, url, &client.Options{Transports: transports, Header: http.Header(header)})
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "sockline cat: %s\n", describe(err))
		return 1
	}
	if !*quiet {
		fmt.Fprintf(stderr, "connected to %s over %s (stdin lines are sent; Ctrl-D or Ctrl-C ends)\n", url, c.Transport())
	}

	recvDone := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(stdout)
		for {
			msg, err := c.Recv(context.Background())
			if err != nil {
				w.Flush()
				recvDone <- err
				return
			}
			fmt.Fprintln(w, msg)
			w.Flush()
		}
	}()

	// stdin may block for ever (a terminal): read it in a goroutine that
	// is left behind when the session ends first.
	lines := make(chan string)
	eof := make(chan struct{})
	left := make(chan struct{})
	defer close(left)
	go func() {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-left:
				return
			}
		}
		close(eof)
	}()

	var end error
loop:
	for {
		select {
		case l := <-lines:
			if err := c.Send(l); err != nil {
				end = err
				break loop
			}
		case <-eof:
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.Flush(fctx)
			cancel()
			if err != nil {
				end = err
				break loop
			}
			select {
			case end = <-recvDone:
			case <-time.After(*linger):
			case <-ctx.Done():
			}
			break loop
		case end = <-recvDone:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	if end == nil {
		_ = c.Close(1000, "Normal closure")
		end = <-recvDone
	}
	var ce *client.CloseError
	switch {
	case errors.Is(end, client.ErrClosed):
		return 0
	case errors.As(end, &ce) && errors.Is(end, client.ErrServerClosed):
		if !*quiet {
			fmt.Fprintf(stderr, "closed by the server: %d %q\n", ce.Code, ce.Reason)
		}
		return 0
	}
	fmt.Fprintf(stderr, "sockline cat: %s\n", describe(end))
	return 1
}
