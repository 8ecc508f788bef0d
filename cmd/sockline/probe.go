package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/client"
)

// probeResult is what probe found for one transport.
type probeResult struct {
	Transport string        `json:"transport"`
	OK        bool          `json:"ok"`
	Open      time.Duration `json:"open_ns"`      // Dial: /info, then the transport up to its "o"
	RoundTrip time.Duration `json:"roundtrip_ns"` // one message out and its echo back; 0 without echo
	Note      string        `json:"note,omitempty"`
	// -idle: whether a message still went and came back after the quiet
	// period, and after how long of it the path cut the connection (0: it
	// did not).
	IdleOK    bool          `json:"idle_ok,omitempty"`
	IdleCut   time.Duration `json:"idle_cut_ns,omitempty"`
	Diagnosis *diagnosis    `json:"diagnosis,omitempty"`
}

// probeReport is probe's whole answer, printed as a table or as JSON.
type probeReport struct {
	URL           string        `json:"url"`
	Proxy         string        `json:"proxy,omitempty"`
	Insecure      bool          `json:"insecure,omitempty"`
	Idle          time.Duration `json:"idle_ns,omitempty"`
	Info          string        `json:"info"`
	InfoDiagnosis *diagnosis    `json:"info_diagnosis,omitempty"`
	Results       []probeResult `json:"results"`
}

// prober holds what probing one URL needs.
type prober struct {
	url         string // as given
	base, query string // the URL without its query and trailing slash, and its query
	header      http.Header
	timeout     time.Duration
	idle        time.Duration
	msg         string
	tls         *tls.Config // nil: the defaults
	proxy       func(*http.Request) (*url.URL, error)
	proxyGiven  bool
	cacert      bool
	rec         *recorder
	hc          *http.Client
	transport   *http.Transport
	verbose     bool
}

// probeCmd tries every transport in turn and prints a table: whether it
// opened, how long that took, and the round trip of one message (on an
// echo endpoint); then, for every transport that failed, the likely cause
// and a hint. It exits 0 when at least one transport works.
func probeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	header := headerFlag(http.Header{})
	fs.Var(header, "H", "add the header `'Name: value'` to every request, the websocket handshake included (repeatable)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long each transport may take to open, to echo, and each of probe's own checks")
	msg := fs.String("m", "sockline probe", "`message` sent to measure the round trip (the endpoint should echo it)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	proxyFlag := fs.String("proxy", "", "send every request, the websocket handshake included (as a CONNECT tunnel), through the proxy at `URL`: "+
		"http://[user:password@]host:port, or socks5://host:port (an https:// proxy carries the HTTP transports only); "+
		"none: HTTPS_PROXY, HTTP_PROXY and NO_PROXY from the environment")
	cacert := fs.String("cacert", "", "trust the CA certificates in this PEM `file` for TLS, besides the system's")
	insecure := fs.Bool("insecure", false, "do not verify TLS certificates at all (for a test only: anyone on the path can read and change the traffic)")
	verbose := fs.Bool("v", false, "print every request on stderr: method, URL, status and time")
	idle := fs.Duration("idle", 0, "after opening each transport, stay quiet this long, then send and expect the echo; "+
		"reports when the path cuts a quiet connection (try 60s: longer than the servers' 25 s heartbeat); 0: no idle test")
	rawURL, code, ok := parse(fs, probeCommand, args, stdout, stderr)
	if !ok {
		return code
	}
	if *timeout <= 0 || *idle < 0 {
		fmt.Fprintln(stderr, "sockline probe: -timeout must be positive and -idle not negative")
		return 2
	}
	p := &prober{url: rawURL, header: http.Header(header), timeout: *timeout, idle: *idle, msg: *msg, verbose: *verbose}
	var err error
	if p.base, p.query, err = splitURL(rawURL); err != nil {
		fmt.Fprintf(stderr, "sockline probe: %v\n", err)
		return 2
	}
	if p.tls, err = tlsConfig(*cacert, *insecure); err != nil {
		fmt.Fprintf(stderr, "sockline probe: %v\n", err)
		return 2
	}
	p.cacert = *cacert != ""
	report := probeReport{URL: rawURL, Insecure: *insecure, Idle: *idle}
	p.proxy = http.ProxyFromEnvironment
	if *proxyFlag != "" {
		u, err := url.Parse(*proxyFlag)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") || u.Host == "" {
			fmt.Fprintf(stderr, "sockline probe: -proxy %q: want http://host:port (or https:// or socks5://)\n", *proxyFlag)
			return 2
		}
		p.proxy, p.proxyGiven = http.ProxyURL(u), true
		report.Proxy = u.Redacted()
	}
	if *insecure {
		fmt.Fprintln(stderr, "sockline probe: WARNING: -insecure: TLS certificates are NOT verified; anyone on the path can read and change this traffic. "+
			"Use it for a test only; -cacert FILE trusts a CA instead.")
	}

	var log io.Writer
	if p.verbose {
		log = stderr
	}
	p.transport = http.DefaultTransport.(*http.Transport).Clone()
	p.transport.Proxy = p.proxy
	if p.tls != nil {
		p.transport.TLSClientConfig = p.tls.Clone()
	}
	defer p.transport.CloseIdleConnections()
	p.rec = newRecorder(p.transport, log)
	p.hc = &http.Client{Transport: p.rec}
	if p.verbose {
		p.rec.printf("proxy: %s", p.proxyText())
	}

	in := p.info(ctx)
	report.Info, report.InfoDiagnosis = in.line, in.diag
	for _, tr := range []string{client.WebSocket, client.XHRStreaming, client.EventSource, client.XHRPolling} {
		if ctx.Err() != nil {
			break
		}
		if in.diag != nil {
			report.Results = append(report.Results, probeResult{Transport: tr, Note: "/info failed", Diagnosis: in.diag})
			continue
		}
		report.Results = append(report.Results, p.one(ctx, tr, in))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(report)
	} else {
		printReport(stdout, report)
	}
	for _, r := range report.Results {
		if r.OK {
			return 0
		}
	}
	return 1
}

// printReport prints the report as text: the table, then what failed.
func printReport(w io.Writer, rep probeReport) {
	fmt.Fprintln(w, rep.URL)
	if rep.Proxy != "" {
		fmt.Fprintf(w, "through proxy %s\n", rep.Proxy)
	}
	if rep.Insecure {
		fmt.Fprintln(w, "WARNING: TLS certificates NOT verified (-insecure)")
	}
	fmt.Fprintln(w, rep.Info)
	if d := rep.InfoDiagnosis; d != nil {
		fmt.Fprintf(w, "  cause: %s\n  hint:  %s\n", d.Cause, d.Hint)
	}
	if rep.Idle > 0 {
		fmt.Fprintf(w, "idle test: each transport stays quiet for %s, then sends\n", rep.Idle)
	}
	fmt.Fprintln(w)

	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSPORT\tRESULT\tOPEN\tROUND TRIP\tNOTE")
	for _, r := range rep.Results {
		res, open, rt := "fail", "-", "-"
		if r.OK {
			res = "ok"
		}
		if r.Open > 0 {
			open = ms(r.Open)
		}
		if r.RoundTrip > 0 {
			rt = ms(r.RoundTrip)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Transport, res, open, rt, shortNote(r, rep.Idle))
	}
	tw.Flush()
	for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(line, " ")) // no padding after the last cell
	}
	for _, r := range rep.Results {
		if r.Diagnosis == nil || rep.InfoDiagnosis != nil {
			continue // /info's failure is told once, above
		}
		what := "failed: " + strings.TrimPrefix(r.Note, r.Transport+": ")
		if r.OK {
			what = "works, but " + r.Diagnosis.Kind
		}
		fmt.Fprintf(w, "\n%s: %s\n  cause: %s\n", r.Transport, what, r.Diagnosis.Cause)
		if r.Diagnosis.Hint != "" {
			fmt.Fprintf(w, "  hint:  %s\n", r.Diagnosis.Hint)
		}
	}
}

// shortNote is the NOTE cell of a transport's row.
func shortNote(r probeResult, idle time.Duration) string {
	switch {
	case r.Diagnosis != nil && r.IdleCut > 0 && r.OK:
		return fmt.Sprintf("idle: cut after %ss, reopened", seconds(r.IdleCut))
	case r.Diagnosis != nil && r.IdleCut > 0:
		return fmt.Sprintf("idle cut after %ss", seconds(r.IdleCut))
	case r.Diagnosis != nil:
		return r.Diagnosis.Kind
	case r.OK && idle > 0 && r.IdleOK:
		return fmt.Sprintf("idle %s ok", idle)
	}
	return r.Note
}

// infoResult is what probe found of /info.
type infoResult struct {
	webSocket, cookieNeeded bool
	line                    string
	diag                    *diagnosis // nil: /info answered
}

// info reads /info with a request of its own.
func (p *prober) info(ctx context.Context) infoResult {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	fail := func(f finding, err string) infoResult {
		f.Transport, f.Stage, f.Err, f.StatusOf = "info", "info", err, "GET /info"
		f.ProxyGiven, f.CACert, f.Origin = p.proxyGiven, p.cacert, p.header.Get("Origin")
		d := diagnose(f)
		return infoResult{line: "info: failed: " + err, diag: &d}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.withQuery(p.base+"/info"), nil)
	if err != nil {
		return fail(finding{}, err.Error())
	}
	addHeader(req, p.header)
	start := time.Now()
	resp, err := p.hc.Do(req)
	if err != nil {
		var f finding
		p.noAnswer(ctx, &f, err, start)
		return fail(f, shortErr(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	rtt := time.Since(start)
	if err != nil {
		return fail(finding{}, "reading /info: "+shortErr(err))
	}
	if resp.StatusCode != http.StatusOK {
		return fail(finding{Status: resp.StatusCode, Body: string(body)}, "GET /info answered "+resp.Status)
	}
	var in struct {
		WebSocket    *bool `json:"websocket"`
		CookieNeeded bool  `json:"cookie_needed"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		f := finding{BadInfo: string(body)}
		return fail(f, "GET /info answered 200 but not SockJS info JSON")
	}
	ws := in.WebSocket == nil || *in.WebSocket
	return infoResult{webSocket: ws, cookieNeeded: in.CookieNeeded,
		line: fmt.Sprintf("info: websocket %v, cookie_needed %v, %s", ws, in.CookieNeeded, ms(rtt))}
}

// one opens one transport, sends one message and waits for its echo; with
// -idle it then stays quiet and tries again. When something fails it
// looks closer, with raw requests of its own, for a diagnosis.
func (p *prober) one(ctx context.Context, tr string, in infoResult) probeResult {
	r := probeResult{Transport: tr}
	// Each transport starts on new connections, as a new page would: none
	// left over from the previous one, which the path may have cut.
	p.transport.CloseIdleConnections()
	mark := p.rec.mark()
	f := finding{Transport: tr, CookieNeeded: in.cookieNeeded, WebSocketOff: tr == client.WebSocket && !in.webSocket,
		ProxyGiven: p.proxyGiven, CACert: p.cacert, Origin: p.header.Get("Origin"), Idle: p.idle}
	var handshake atomic.Pointer[string]
	opts := &client.Options{Transports: []string{tr}, Header: p.header, HTTPClient: p.hc, OpenTimeout: p.timeout,
		Dialer: p.dialer(func(u string) { handshake.Store(&u) })}
	dctx, cancel := context.WithTimeout(ctx, 2*p.timeout)
	start := time.Now()
	c, err := client.Dial(dctx, p.url, opts)
	cancel()
	if u := handshake.Load(); u != nil {
		if err == nil {
			p.rec.printf("GET %s (websocket) -> 101 Switching Protocols, open (%s)", wsText(*u), ms(time.Since(start)))
		} else {
			p.rec.printf("GET %s (websocket) -> %s (%s)", wsText(*u), shortErr(err), ms(time.Since(start)))
		}
	}
	if err != nil {
		r.Note = shortErr(err)
		if ctx.Err() != nil {
			return r
		}
		f.Stage, f.Err = "open", r.Note
		p.explainOpen(ctx, &f, err)
		p.fromEvents(&f, mark)
		d := diagnose(f)
		r.Diagnosis = &d
		return r
	}
	r.OK, r.Open = true, time.Since(start)
	s := startReading(c)
	defer s.stop()

	// failedAt records a failure of the open session at stage, with its
	// diagnosis (unless the probe itself was stopped).
	failedAt := func(stage, note string, err error) probeResult {
		r.OK, r.Note = false, note
		if ctx.Err() != nil {
			return r
		}
		f.Stage, f.Err = stage, note
		serverClose(&f, err)
		p.fromEvents(&f, mark)
		d := diagnose(f)
		r.Diagnosis = &d
		return r
	}
	rtt, err := s.echo(ctx, p.msg, p.timeout)
	if err != nil {
		return failedAt("echo", shortErr(err), err)
	}
	r.RoundTrip = rtt
	if p.idle <= 0 {
		return r
	}

	idleStart := time.Now()
	endedAt, endErr := s.quiet(ctx, p.idle)
	if ctx.Err() != nil {
		return r
	}
	quiet, _, cut := p.rec.cut(mark, idleStart, time.Now())
	if cut {
		f.IdleCut = quiet
	}
	if endErr != nil {
		r.OK, r.Note = false, "during -idle: "+shortErr(endErr)
		f.Stage, f.Err = "idle", shortErr(endErr)
		serverClose(&f, endErr)
		switch {
		case f.ServerClose != "" || cut:
		case errors.Is(endErr, client.ErrTimeout):
			f.Silent = client.DefaultHeartbeatTimeout
		case errors.Is(endErr, client.ErrTransport):
			f.IdleCut = endedAt.Sub(idleStart)
		}
		r.IdleCut = f.IdleCut
		d := diagnose(f)
		r.Diagnosis = &d
		return r
	}
	r.IdleCut = f.IdleCut
	if _, err := s.echo(ctx, p.msg, p.timeout); err != nil {
		return failedAt("idle", "after -idle: "+shortErr(err), err)
	}
	r.IdleOK = true
	if cut { // the stream was cut but the client reopened it
		d := diagnose(f)
		r.Diagnosis = &d
	}
	return r
}

// serverClose notes a close frame from the server.
func serverClose(f *finding, err error) {
	var ce *client.CloseError
	if errors.As(err, &ce) && errors.Is(err, client.ErrServerClosed) {
		f.ServerClose = fmt.Sprintf("%d %q", ce.Code, ce.Reason)
	}
}

// explainOpen fills in f for a transport that did not open: from the
// client's error, then from a raw request of probe's own.
func (p *prober) explainOpen(ctx context.Context, f *finding, err error) {
	serverClose(f, err)
	if f.ServerClose != "" || f.WebSocketOff {
		return
	}
	classify(err, f)
	if f.TLS != tlsNone || f.Unreachable != "" {
		return
	}
	switch f.Transport {
	case client.WebSocket:
		p.rawWebSocket(ctx, f)
	case client.XHRStreaming, client.EventSource:
		p.rawStream(ctx, f)
	case client.XHRPolling:
		p.rawPoll(ctx, f)
	}
}

// fromEvents completes f with what the recorder saw of the client's
// requests since mark: the first error answer, when probe's own request
// got none (a stream may open and the send fail), and whether any answer
// set the session cookie.
func (p *prober) fromEvents(f *finding, mark int) {
	for _, ev := range p.rec.since(mark) {
		if ev.sessionCookie {
			f.SessionCookie = true
		}
		if f.Status < 400 && ev.status >= 400 {
			f.Status, f.StatusOf, f.Body = ev.status, ev.method+" "+shortPath(ev.url), ev.body
		}
	}
}

// rawWebSocket makes a websocket handshake of its own, with the client's
// settings, and notes how it was answered.
func (p *prober) rawWebSocket(ctx context.Context, f *finding) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	u := "ws" + strings.TrimPrefix(p.sessionURL(), "http") + "/websocket"
	start := time.Now()
	conn, resp, err := p.dialer(nil).DialContext(ctx, p.withQuery(u), p.header.Clone())
	if conn != nil {
		_ = conn.Close()
	}
	f.StatusOf = "GET " + shortPath(u)
	if resp == nil {
		p.rec.printf("GET %s (probe's websocket check) -> error: %v (%s)", hideQuery(u), err, ms(time.Since(start)))
		p.noAnswer(ctx, f, err, start)
		return
	}
	p.rec.printf("GET %s (probe's websocket check) -> %s, Upgrade: %q (%s)", hideQuery(u), resp.Status, resp.Header.Get("Upgrade"), ms(time.Since(start)))
	f.Status = resp.StatusCode
	f.Upgrade = strings.EqualFold(resp.Header.Get("Upgrade"), "websocket")
	if resp.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		f.Body = string(b)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			f.SessionCookie = true
		}
	}
}

// Bytes a server sends at once when a stream opens: xhr-streaming's
// prelude (2048 "h" and a newline) and "o\n"; eventsource's "\r\n" and
// "data: o\r\n\r\n".
const (
	xhrStreamingWant = 2049 + 2
	eventSourceWant  = 2 + 11
)

// rawStream opens a stream of its own and notes when its headers came and
// how much of what the server sends at once followed, within -timeout.
func (p *prober) rawStream(ctx context.Context, f *finding) {
	outer := ctx
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	method, u, want := http.MethodPost, p.sessionURL()+"/xhr_streaming", xhrStreamingWant
	if f.Transport == client.EventSource {
		method, u, want = http.MethodGet, p.sessionURL()+"/eventsource", eventSourceWant
	}
	f.StatusOf = method + " " + shortPath(u)
	req, err := http.NewRequestWithContext(ctx, method, p.withQuery(u), nil)
	if err != nil {
		return
	}
	addHeader(req, p.header)
	if f.Transport == client.EventSource {
		req.Header.Set("Accept", "text/event-stream")
	}
	start := time.Now()
	resp, err := p.hc.Do(req)
	if err != nil {
		p.noAnswer(ctx, f, err, start)
		if f.NoAnswer > 0 {
			f.PollAnswered = p.controlPoll(outer)
		}
		return
	}
	defer resp.Body.Close()
	f.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		f.Body = string(b)
		return
	}
	headers := time.Now()
	f.Headers, f.Want = headers.Sub(start), want
	f.AccelNo = strings.EqualFold(resp.Header.Get("X-Accel-Buffering"), "no")
	buf := make([]byte, 4096)
	for f.Bytes < want {
		n, err := resp.Body.Read(buf)
		f.Bytes += n
		if err != nil {
			if ctx.Err() != nil {
				f.Window = time.Since(headers) // waited it out
			}
			break
		}
	}
}

// rawPoll makes one poll of its own and notes its answer.
func (p *prober) rawPoll(ctx context.Context, f *finding) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	u := p.sessionURL() + "/xhr"
	f.StatusOf = "POST " + shortPath(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.withQuery(u), nil)
	if err != nil {
		return
	}
	addHeader(req, p.header)
	start := time.Now()
	resp, err := p.hc.Do(req)
	if err != nil {
		p.noAnswer(ctx, f, err, start)
		return
	}
	defer resp.Body.Close()
	f.Status = resp.StatusCode
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		f.Body = string(b)
	}
}

// controlPoll opens a new session with one poll, within -timeout, and
// returns how long its open frame took; 0 when it did not come. A stream
// that gets no answer while a poll does points at a proxy that buffers
// whole responses: a poll's ends at once, a stream's never.
func (p *prober) controlPoll(ctx context.Context) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	u := p.sessionURL() + "/xhr"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.withQuery(u), nil)
	if err != nil {
		return 0
	}
	addHeader(req, p.header)
	start := time.Now()
	resp, err := p.hc.Do(req)
	if err != nil {
		p.rec.printf("POST %s (probe's control poll) -> error: %v (%s)", hideQuery(u), err, ms(time.Since(start)))
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	took := time.Since(start)
	p.rec.printf("POST %s (probe's control poll) -> %s %q (%s)", hideQuery(u), resp.Status, b, ms(took))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "o") {
		return 0
	}
	return took
}

// noAnswer notes the error of a raw request that got no answer: a
// connection error, or none at all before the timeout.
func (p *prober) noAnswer(ctx context.Context, f *finding, err error, start time.Time) {
	classify(err, f)
	if f.TLS == tlsNone && f.Unreachable == "" && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		f.NoAnswer = time.Since(start)
	}
}

// dialer is the websocket dialer for the client and for probe's own
// handshakes: probe's proxy and TLS settings; onURL, when set, is told the
// URL of every handshake (for -v).
func (p *prober) dialer(onURL func(string)) *websocket.Dialer {
	d := &websocket.Dialer{Proxy: p.proxy}
	if p.tls != nil {
		d.TLSClientConfig = p.tls.Clone()
		d.TLSClientConfig.NextProtos = nil // the handshake is HTTP/1.1
	}
	if onURL != nil {
		proxy := p.proxy
		d.Proxy = func(r *http.Request) (*url.URL, error) {
			onURL(r.URL.String())
			return proxy(r)
		}
	}
	return d
}

// sessionURL is a new session's URL, as sockjs-client makes them:
// base/NNN/xxxxxxxx.
func (p *prober) sessionURL() string {
	const chars = "abcdefghijklmnopqrstuvwxyz012345"
	var b [8]byte
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return fmt.Sprintf("%s/%03d/%s", p.base, rand.IntN(1000), b[:])
}

// withQuery appends the endpoint URL's query, which the client keeps on
// every request too.
func (p *prober) withQuery(u string) string {
	if p.query == "" {
		return u
	}
	return u + "?" + p.query
}

// proxyText says which proxy requests to the URL go through.
func (p *prober) proxyText() string {
	req, err := http.NewRequest(http.MethodGet, p.base+"/info", nil)
	if err != nil {
		return "none"
	}
	u, err := p.proxy(req)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case u == nil:
		return "none"
	case p.proxyGiven:
		return u.Redacted() + " (-proxy)"
	}
	return u.Redacted() + " (from the environment)"
}

// reader reads a session's messages in a goroutine of its own, so that
// probe can wait for an echo or for the session's end with a timeout.
type reader struct {
	c     *client.Conn
	ch    chan received
	done  chan struct{}
	wg    sync.WaitGroup
	ended *received // the session's end, once seen
}

type received struct {
	msg string
	err error
	at  time.Time
}

func startReading(c *client.Conn) *reader {
	s := &reader{c: c, ch: make(chan received, 16), done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			m, err := c.Recv(context.Background())
			select {
			case s.ch <- received{m, err, time.Now()}:
			case <-s.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// stop closes the session and waits for the reading goroutine.
func (s *reader) stop() {
	close(s.done)
	_ = s.c.Close(1000, "probe done")
	s.wg.Wait()
}

// errNoEcho: the message did not come back in time.
var errNoEcho = errors.New("no echo")

// echo sends msg and waits up to timeout for it to come back.
func (s *reader) echo(ctx context.Context, msg string, timeout time.Duration) (time.Duration, error) {
	if s.ended != nil {
		return 0, s.ended.err
	}
	start := time.Now()
	if err := s.c.Send(msg); err != nil {
		return 0, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case x := <-s.ch:
			if x.err != nil {
				s.ended = &x
				return 0, x.err
			}
			if x.msg == msg {
				return time.Since(start), nil
			}
		case <-t.C:
			return 0, fmt.Errorf("%w in %s", errNoEcho, timeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// quiet sends nothing for d, and returns early with the session's end
// (and when it was seen) if it ends.
func (s *reader) quiet(ctx context.Context, d time.Duration) (time.Time, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case x := <-s.ch:
			if x.err != nil {
				s.ended = &x
				return x.at, x.err
			}
		case <-t.C:
			return time.Time{}, nil
		case <-ctx.Done():
			return time.Time{}, nil
		}
	}
}

// splitURL checks an endpoint URL and returns it without query and
// trailing slash, and its query.
func splitURL(raw string) (base, query string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("bad URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("URL %q: want http:// or https:// and a host, such as https://example.com/echo", raw)
	}
	query = u.RawQuery
	u.RawQuery, u.ForceQuery, u.Fragment = "", false, ""
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
	return u.String(), query, nil
}

// tlsConfig is the TLS configuration for -cacert and -insecure; nil for
// neither.
func tlsConfig(cacert string, insecure bool) (*tls.Config, error) {
	if cacert == "" && !insecure {
		return nil, nil
	}
	c := &tls.Config{InsecureSkipVerify: insecure}
	if cacert != "" {
		pem, err := os.ReadFile(cacert)
		if err != nil {
			return nil, fmt.Errorf("-cacert: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-cacert %s: no PEM certificate in it", cacert)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// addHeader copies h into the request's headers.
func addHeader(req *http.Request, h http.Header) {
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
}

// shortPath is a request URL's path from the session on: ".../xhr_send".
func shortPath(u string) string {
	u = hideQuery(u)
	if i := strings.LastIndexByte(u, '/'); i >= 0 {
		if strings.HasSuffix(u, "/info") {
			return "/info"
		}
		return ".../" + u[i+1:]
	}
	return u
}

// wsText is a handshake URL as ws: or wss:.
func wsText(u string) string { return hideQuery("ws" + strings.TrimPrefix(u, "http")) }

// shortErr is the most telling part of a dial error.
func shortErr(err error) string {
	var ce *client.CloseError
	if errors.As(err, &ce) && errors.Is(err, client.ErrServerClosed) {
		return fmt.Sprintf("closed by the server: %d %q", ce.Code, ce.Reason)
	}
	if ce != nil && ce.Err != nil {
		err = ce.Err
	}
	s := err.Error()
	s = strings.ReplaceAll(s, "client: transport failed: ", "")
	s = strings.ReplaceAll(s, "\n", "; ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// ms prints a duration in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
