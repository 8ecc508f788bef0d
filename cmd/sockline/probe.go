package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sockline/sockline/client"
)

// probeResult is what probe found for one transport.
type probeResult struct {
	Transport string        `json:"transport"`
	OK        bool          `json:"ok"`
	Open      time.Duration `json:"open_ns"`      // Dial: /info, then the transport up to its "o"
	RoundTrip time.Duration `json:"roundtrip_ns"` // one message out and its echo back; 0 without echo
	Note      string        `json:"note,omitempty"`
}

// probeCmd tries every transport in turn and prints a table: whether it
// opened, how long that took, and the round trip of one message (on an
// echo endpoint). It exits 0 when at least one transport works.
func probeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	header := headerFlag(http.Header{})
	fs.Var(header, "H", `header for every request, "Name: value" (repeatable)`)
	timeout := fs.Duration("timeout", 5*time.Second, "how long each transport may take to open, and to echo")
	msg := fs.String("m", "sockline probe", "message sent to measure the round trip (the endpoint should echo it)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	url, ok := parse(fs, args, stderr)
	if !ok {
		return 2
	}
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer hc.CloseIdleConnections()

	infoLine := probeInfo(ctx, hc, url, http.Header(header), *timeout)
	var results []probeResult
	for _, tr := range []string{client.WebSocket, client.XHRStreaming, client.EventSource, client.XHRPolling} {
		if ctx.Err() != nil {
			break
		}
		results = append(results, probeOne(ctx, hc, url, tr, http.Header(header), *timeout, *msg))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			URL     string        `json:"url"`
			Info    string        `json:"info"`
			Results []probeResult `json:"results"`
		}{url, infoLine, results})
	} else {
		fmt.Fprintf(stdout, "%s\n%s\n\n", url, infoLine)
		var table strings.Builder
		tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TRANSPORT\tRESULT\tOPEN\tROUND TRIP\tNOTE")
		for _, r := range results {
			res, open, rt := "fail", "-", "-"
			if r.OK {
				res, open = "ok", ms(r.Open)
				if r.RoundTrip > 0 {
					rt = ms(r.RoundTrip)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Transport, res, open, rt, r.Note)
		}
		tw.Flush()
		for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
			fmt.Fprintln(stdout, strings.TrimRight(line, " ")) // no padding after the last cell
		}
	}
	for _, r := range results {
		if r.OK {
			return 0
		}
	}
	return 1
}

// probeInfo describes the server's /info in one line.
func probeInfo(ctx context.Context, hc *http.Client, url string, h http.Header, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/info", nil)
	if err != nil {
		return "info: " + err.Error()
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return "info: " + err.Error()
	}
	defer resp.Body.Close()
	var in struct {
		WebSocket    *bool `json:"websocket"`
		CookieNeeded bool  `json:"cookie_needed"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&in)
	rtt := time.Since(start)
	if resp.StatusCode != http.StatusOK || err != nil {
		return fmt.Sprintf("info: %s, not SockJS info (is the URL a SockJS endpoint?)", resp.Status)
	}
	ws := in.WebSocket == nil || *in.WebSocket
	return fmt.Sprintf("info: websocket %v, cookie_needed %v, %s", ws, in.CookieNeeded, ms(rtt))
}

// probeOne opens one transport, sends one message and waits for its echo.
func probeOne(ctx context.Context, hc *http.Client, url, tr string, h http.Header, timeout time.Duration, msg string) probeResult {
	r := probeResult{Transport: tr}
	dctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	start := time.Now()
	c, err := client.Dial(dctx, url, &client.Options{Transports: []string{tr}, Header: h, HTTPClient: hc, OpenTimeout: timeout})
	if err != nil {
		r.Note = shortErr(err)
		return r
	}
	defer c.Close(1000, "probe done")
	r.OK, r.Open = true, time.Since(start)
	start = time.Now()
	if err := c.Send(msg); err != nil {
		r.Note = "send: " + shortErr(err)
		return r
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		got, err := c.Recv(rctx)
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			r.Note = "no echo (not an echo endpoint?)"
			return r
		case err != nil:
			r.Note = "after open: " + shortErr(err)
			return r
		case got == msg:
			r.RoundTrip = time.Since(start)
			return r
		}
	}
}

// shortErr is the most telling part of a dial error.
func shortErr(err error) string {
	var ce *client.CloseError
	if errors.As(err, &ce) && ce.Err != nil {
		err = ce.Err
	}
	s := err.Error()
	s = strings.ReplaceAll(s, "client: transport failed: ", "")
	s = strings.ReplaceAll(s, "\n", "; ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// ms prints a duration in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
