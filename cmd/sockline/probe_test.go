package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockline/sockline/sockjs"
)

// echoHandler is the repository's echo service.
func echoHandler(t *testing.T, opts sockjs.Options) *sockjs.Handler {
	t.Helper()
	h := sockjs.NewHandler(opts, func(ctx context.Context, s *sockjs.Session) {
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
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return h
}

// serve starts ts (unstarted) and closes it at cleanup, cutting its
// connections first (streams a proxy holds open would keep Close waiting).
// Cleanups run last in first out: serve the backend before the proxies in
// front of it.
func serve(t *testing.T, ts *httptest.Server, useTLS bool) string {
	t.Helper()
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake errors, by design here
	if useTLS {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts.URL
}

// reverseProxy is a proxy in front of backend; front, when set, sees (and
// may change) every request before the proxy, modify every response.
func reverseProxy(t *testing.T, backend string, front func(w http.ResponseWriter, r *http.Request, next http.Handler), modify func(*http.Response) error) string {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	rp := &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:      tr,
		ModifyResponse: modify,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	var h http.Handler = rp
	if front != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { front(w, r, rp) })
	}
	return serve(t, httptest.NewUnstartedServer(h), false)
}

// probeJSON runs probe -json with args and decodes its report.
func probeJSON(t *testing.T, args ...string) (int, probeReport, string) {
	t.Helper()
	code, out, errOut := sockline(t, "", append([]string{"probe", "-json"}, args...)...)
	var rep probeReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("probe %q: exit %d, %v; stdout %s stderr %s", args, code, err, out, errOut)
	}
	var text strings.Builder
	printReport(&text, rep) // the report as probe prints it without -json
	t.Logf("probe %q exited %d:\n%s", args, code, text.String())
	return code, rep, errOut
}

// result returns the report's result for transport tr.
func result(t *testing.T, rep probeReport, tr string) probeResult {
	t.Helper()
	for _, r := range rep.Results {
		if r.Transport == tr {
			return r
		}
	}
	t.Fatalf("no result for %s in %+v", tr, rep)
	return probeResult{}
}

// wantKinds checks each transport's result: "ok", or the diagnosis kind of
// its failure.
func wantKinds(t *testing.T, rep probeReport, want map[string]string) {
	t.Helper()
	for tr, kind := range want {
		r := result(t, rep, tr)
		switch {
		case kind == "ok" && (!r.OK || r.Diagnosis != nil):
			t.Errorf("%s: %+v, want ok", tr, r)
		case kind != "ok" && (r.OK || r.Diagnosis == nil || r.Diagnosis.Kind != kind):
			t.Errorf("%s: %+v (diagnosis %+v), want a failure of kind %q", tr, r, r.Diagnosis, kind)
		}
	}
}

// (a) A proxy without websocket support: it drops Upgrade and Connection
// and passes the handshake on as a plain GET, which the server answers
// 400 without Upgrade.
func TestProbeUpgradeStripped(t *testing.T) {
	backend := serve(t, httptest.NewUnstartedServer(echoHandler(t, sockjs.Options{})), false)
	front := reverseProxy(t, backend, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		r.Header.Del("Upgrade")
		r.Header.Del("Connection")
		next.ServeHTTP(w, r)
	}, nil)

	code, rep, _ := probeJSON(t, "-timeout", "2s", front)
	if code != 0 {
		t.Errorf("exit %d, want 0 (the other transports work)", code)
	}
	wantKinds(t, rep, map[string]string{"websocket": "upgrade stripped", "xhr-streaming": "ok", "eventsource": "ok", "xhr-polling": "ok"})
	d := result(t, rep, "websocket").Diagnosis
	if d == nil || !strings.Contains(d.Cause, "400 Bad Request") || !strings.Contains(d.Hint, "proxy_http_version 1.1") {
		t.Errorf("diagnosis %+v: want the 400 named and the nginx hint", d)
	}

	// The text report: the table, then the websocket's failure with cause
	// and hint.
	code, out, _ := sockline(t, "", "probe", "-timeout", "2s", front)
	if code != 0 || !strings.Contains(out, "upgrade stripped") || !strings.Contains(out, "\nwebsocket: ") ||
		!strings.Contains(out, "  cause: the Upgrade header was dropped on the way") || !strings.Contains(out, "  hint:  a proxy on the path") {
		t.Errorf("exit %d, report:\n%s", code, out)
	}
	t.Logf("report:\n%s", out)
}

// bufferingBody holds a response body back until limit bytes are buffered
// (or the body ends), as a buffering proxy does.
type bufferingBody struct {
	io.ReadCloser
	limit    int
	buf      bytes.Buffer
	released bool
	err      error
}

func (b *bufferingBody) Read(p []byte) (int, error) {
	for !b.released {
		var chunk [4096]byte
		n, err := b.ReadCloser.Read(chunk[:])
		b.buf.Write(chunk[:n])
		if err != nil || b.buf.Len() >= b.limit {
			b.released, b.err = true, err
		}
	}
	if b.buf.Len() > 0 {
		return b.buf.Read(p)
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.ReadCloser.Read(p)
}

// headersFirst sends the response headers at once, as nginx does while it
// buffers the body.
type headersFirst struct{ http.ResponseWriter }

func (w headersFirst) WriteHeader(code int) {
	w.ResponseWriter.WriteHeader(code)
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w headersFirst) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// (b) A proxy that buffers streamed responses (8 KiB) but sends their
// headers at once: the websocket and polling work, the streams do not.
func TestProbeBuffered(t *testing.T) {
	t.Parallel()
	backend := serve(t, httptest.NewUnstartedServer(echoHandler(t, sockjs.Options{})), false)
	front := reverseProxy(t, backend,
		func(w http.ResponseWriter, r *http.Request, next http.Handler) { next.ServeHTTP(headersFirst{w}, r) },
		func(resp *http.Response) error {
			p := resp.Request.URL.Path
			if resp.StatusCode == http.StatusOK && (strings.HasSuffix(p, "/xhr_streaming") || strings.HasSuffix(p, "/eventsource")) {
				resp.Body = &bufferingBody{ReadCloser: resp.Body, limit: 8 << 10}
			}
			return nil
		})

	code, rep, _ := probeJSON(t, "-timeout", "2s", front)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantKinds(t, rep, map[string]string{"websocket": "ok", "xhr-streaming": "response buffered", "eventsource": "response buffered", "xhr-polling": "ok"})
	for _, tr := range []string{"xhr-streaming", "eventsource"} {
		d := result(t, rep, tr).Diagnosis
		if d == nil || !strings.Contains(d.Hint, "X-Accel-Buffering") || !strings.Contains(d.Cause, "headers came") {
			t.Errorf("%s: diagnosis %+v: want the headers and X-Accel-Buffering named", tr, d)
		}
	}
	t.Logf("xhr-streaming: %+v", *result(t, rep, "xhr-streaming").Diagnosis)
}

// headersHeld holds the response headers back until the first body byte,
// as nginx does while it buffers: flushes before that send nothing. It has
// no Unwrap, so that the proxy cannot flush around it; the websocket
// upgrade goes through Hijack.
type headersHeld struct {
	w       http.ResponseWriter
	code    int
	started bool
}

func (h *headersHeld) Header() http.Header { return h.w.Header() }
func (h *headersHeld) WriteHeader(code int) {
	if code >= 200 && h.code == 0 {
		h.code = code
	}
}
func (h *headersHeld) Write(p []byte) (int, error) {
	if !h.started {
		h.started = true
		if h.code != 0 {
			h.w.WriteHeader(h.code)
		}
	}
	return h.w.Write(p)
}

// finish sends the headers of a response without a body.
func (h *headersHeld) finish() {
	if !h.started && h.code != 0 {
		h.started = true
		h.w.WriteHeader(h.code)
	}
}
func (h *headersHeld) Flush() {
	if h.started {
		_ = http.NewResponseController(h.w).Flush()
	}
}
func (h *headersHeld) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.w).Hijack()
}

// (b2) A proxy that holds streamed responses whole, headers included, as
// nginx does while it buffers: the streams get no answer at all, a poll of
// a new session does, and probe names the buffering rather than "no answer".
func TestProbeBufferedHeadersToo(t *testing.T) {
	t.Parallel()
	backend := serve(t, httptest.NewUnstartedServer(echoHandler(t, sockjs.Options{})), false)
	front := reverseProxy(t, backend,
		func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			hw := &headersHeld{w: w}
			next.ServeHTTP(hw, r)
			hw.finish()
		},
		func(resp *http.Response) error {
			p := resp.Request.URL.Path
			if resp.StatusCode == http.StatusOK && (strings.HasSuffix(p, "/xhr_streaming") || strings.HasSuffix(p, "/eventsource")) {
				resp.Body = &bufferingBody{ReadCloser: resp.Body, limit: 8 << 10}
			}
			return nil
		})

	code, rep, _ := probeJSON(t, "-timeout", "2s", front)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantKinds(t, rep, map[string]string{"websocket": "ok", "xhr-streaming": "response buffered", "eventsource": "response buffered", "xhr-polling": "ok"})
	for _, tr := range []string{"xhr-streaming", "eventsource"} {
		d := result(t, rep, tr).Diagnosis
		if d == nil || !strings.Contains(d.Cause, "headers included") || !strings.Contains(d.Cause, "a poll") || !strings.Contains(d.Hint, "proxy_buffering off") {
			t.Errorf("%s: diagnosis %+v: want the whole response held, the poll that passed, and the fix named", tr, d)
		}
	}
}

// (c) A server behind a self-signed certificate: refused without -cacert,
// trusted with it, unverified (and said so) with -insecure.
func TestProbeTLS(t *testing.T) {
	ts := httptest.NewUnstartedServer(echoHandler(t, sockjs.Options{}))
	url := serve(t, ts, true) + "/"
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("untrusted", func(t *testing.T) {
		code, rep, _ := probeJSON(t, "-timeout", "2s", url)
		if code != 1 || rep.InfoDiagnosis == nil || rep.InfoDiagnosis.Kind != "tls" ||
			!strings.Contains(rep.InfoDiagnosis.Cause, "authority") || !strings.Contains(rep.InfoDiagnosis.Hint, "-cacert") {
			t.Fatalf("exit %d, info %q, diagnosis %+v: want a TLS failure pointing at -cacert", code, rep.Info, rep.InfoDiagnosis)
		}
		for _, r := range rep.Results {
			if r.OK || r.Diagnosis == nil || r.Diagnosis.Kind != "tls" {
				t.Errorf("%+v: want a failure for TLS", r)
			}
		}
		code, out, _ := sockline(t, "", "probe", "-timeout", "2s", url)
		if code != 1 || !strings.Contains(out, "cause: TLS: the server's certificate is signed by an authority this machine does not trust") {
			t.Errorf("exit %d, report:\n%s", code, out)
		}
	})
	t.Run("cacert", func(t *testing.T) {
		code, rep, errOut := probeJSON(t, "-timeout", "2s", "-cacert", ca, url)
		if code != 0 || strings.Contains(errOut, "WARNING") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		wantKinds(t, rep, map[string]string{"websocket": "ok", "xhr-streaming": "ok", "eventsource": "ok", "xhr-polling": "ok"})
	})
	t.Run("insecure", func(t *testing.T) {
		code, rep, errOut := probeJSON(t, "-timeout", "2s", "-insecure", url)
		if code != 0 || !rep.Insecure || !strings.Contains(errOut, "WARNING: -insecure: TLS certificates are NOT verified") {
			t.Errorf("exit %d, insecure %v, stderr %q: want it working, and a warning", code, rep.Insecure, errOut)
		}
		wantKinds(t, rep, map[string]string{"websocket": "ok", "xhr-streaming": "ok", "eventsource": "ok", "xhr-polling": "ok"})
		_, out, _ := sockline(t, "", "probe", "-timeout", "2s", "-insecure", url)
		if !strings.Contains(out, "WARNING: TLS certificates NOT verified (-insecure)") {
			t.Errorf("report without the warning:\n%s", out)
		}
	})
	t.Run("bad cacert", func(t *testing.T) {
		if code, _, errOut := sockline(t, "", "probe", "-cacert", filepath.Join(t.TempDir(), "none.pem"), url); code != 2 || !strings.Contains(errOut, "-cacert") {
			t.Errorf("exit %d, stderr %q; want 2", code, errOut)
		}
	})
}

// (d) Every -H reaches the server on every request, the websocket
// handshake included; -v prints the requests.
func TestProbeHeaders(t *testing.T) {
	h := echoHandler(t, sockjs.Options{})
	var mu sync.Mutex
	seen := map[string][]string{} // last path element: the X-Probe values of each request
	url := serve(t, httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		mu.Lock()
		seen[kind] = append(seen[kind], strings.Join(r.Header.Values("X-Probe"), ",")+"|"+r.Header.Get("Authorization"))
		mu.Unlock()
		h.ServeHTTP(w, r)
	})), false)

	code, out, errOut := sockline(t, "", "probe", "-v", "-timeout", "2s", "-H", "X-Probe: one", "-H", "X-Probe: two", "-H", "Authorization: Bearer abc", url+"?token=secret")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, kind := range []string{"info", "websocket", "xhr_streaming", "eventsource", "xhr", "xhr_send"} {
		if len(seen[kind]) == 0 {
			t.Errorf("no %s request seen (%v)", kind, seen)
		}
		for _, v := range seen[kind] {
			if v != "one,two|Bearer abc" {
				t.Errorf("a %s request had X-Probe|Authorization %q, want one,two|Bearer abc", kind, v)
			}
		}
	}
	for _, want := range []string{"/info?... -> 200 OK (", "/websocket?... (websocket) -> 101 Switching Protocols", "/xhr_send?... -> 204 No Content (", "POST ", "proxy: none"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("-v output lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "secret") {
		t.Errorf("-v output shows the URL's query:\n%s", errOut)
	}
	t.Logf("-v:\n%s", errOut)
}

// idleCutListener closes every connection that has been quiet (nothing
// read or written) for after, as a proxy's read timeout does.
type idleCutListener struct {
	net.Listener
	after time.Duration
}

func (l idleCutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ic := &idleConn{Conn: c, after: l.after}
	ic.timer = time.AfterFunc(l.after, func() { c.Close() })
	return ic, nil
}

type idleConn struct {
	net.Conn
	after time.Duration
	timer *time.Timer
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.timer.Reset(c.after)
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.timer.Reset(c.after)
	}
	return n, err
}

func (c *idleConn) Close() error {
	c.timer.Stop()
	return c.Conn.Close()
}

// (e) A path that cuts connections quiet for 1 s: -idle 2s reports the cut
// after about a second on every transport.
func TestProbeIdleCut(t *testing.T) {
	t.Parallel()
	ts := httptest.NewUnstartedServer(echoHandler(t, sockjs.Options{}))
	ts.Listener = idleCutListener{Listener: ts.Listener, after: time.Second}
	url := serve(t, ts, false)

	code, rep, errOut := probeJSON(t, "-v", "-timeout", "2s", "-idle", "2s", url)
	if code != 1 {
		t.Errorf("exit %d, want 1 (no transport survives)", code)
	}
	for _, r := range rep.Results {
		if r.OK || r.Open <= 0 || r.RoundTrip <= 0 || r.Diagnosis == nil || r.Diagnosis.Kind != "idle cut" {
			t.Errorf("%+v (diagnosis %+v): want an echo, then an idle cut", r, r.Diagnosis)
			continue
		}
		if r.IdleCut < 800*time.Millisecond || r.IdleCut > 1800*time.Millisecond {
			t.Errorf("%s: cut after %s, want about 1s", r.Transport, r.IdleCut)
		}
		if !strings.Contains(r.Diagnosis.Cause, "closed a quiet connection after 1.") || !strings.Contains(r.Diagnosis.Hint, "heartbeat delay (25 s)") {
			t.Errorf("%s: diagnosis %+v", r.Transport, r.Diagnosis)
		}
	}
	if t.Failed() {
		t.Logf("stderr: %s", errOut)
	}

	// Against a path that does not cut, -idle passes.
	url2 := serve(t, httptest.NewUnstartedServer(echoHandler(t, sockjs.Options{})), false)
	code, rep, _ = probeJSON(t, "-timeout", "2s", "-idle", "1500ms", url2)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	for _, r := range rep.Results {
		if !r.OK || !r.IdleOK || r.IdleCut != 0 || r.Diagnosis != nil {
			t.Errorf("%+v: want ok after the quiet period", r)
		}
	}
}

// forwardProxy is an HTTP proxy: CONNECT tunnels, absolute-form requests
// passed on. It records the request lines it gets.
func forwardProxy(t *testing.T) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	var tunnels sync.WaitGroup
	var conns sync.Map
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.Out.URL = pr.In.URL }, Transport: tr, ErrorLog: log.New(io.Discard, "", 0)}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if r.Method == http.MethodConnect {
			lines = append(lines, "CONNECT "+r.Host)
		} else {
			lines = append(lines, r.Method+" "+r.URL.String())
		}
		mu.Unlock()
		if r.Method != http.MethodConnect {
			rp.ServeHTTP(w, r)
			return
		}
		dst, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		src, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			dst.Close()
			return
		}
		conns.Store(src, true)
		conns.Store(dst, true)
		_, _ = src.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		tunnels.Add(2)
		go func() { defer tunnels.Done(); _, _ = io.Copy(dst, brw); dst.Close(); src.Close() }()
		go func() { defer tunnels.Done(); _, _ = io.Copy(src, dst); dst.Close(); src.Close() }()
	})
	url := serve(t, httptest.NewUnstartedServer(h), false)
	t.Cleanup(func() {
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		tunnels.Wait()
	})
	return url, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
}

// -proxy sends every request through the proxy, the websocket as a CONNECT
// tunnel.
func TestProbeProxy(t *testing.T) {
	backend := serve(t, httptest.NewUnstartedServer(echoHandler(t, sockjs.Options{})), false)
	proxy, lines := forwardProxy(t)
	code, rep, errOut := probeJSON(t, "-timeout", "2s", "-proxy", proxy, backend+"/")
	if code != 0 || rep.Proxy != proxy {
		t.Fatalf("exit %d, proxy %q\n%s", code, rep.Proxy, errOut)
	}
	wantKinds(t, rep, map[string]string{"websocket": "ok", "xhr-streaming": "ok", "eventsource": "ok", "xhr-polling": "ok"})
	host := strings.TrimPrefix(backend, "http://")
	got := strings.Join(lines(), "\n")
	for _, want := range []string{"CONNECT " + host, "GET " + backend + "/info", "POST " + backend + "/", "/xhr_send"} {
		if !strings.Contains(got, want) {
			t.Errorf("the proxy did not see %q; it saw:\n%s", want, got)
		}
	}

	// A proxy that is not there is named as such.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	code, rep, _ = probeJSON(t, "-timeout", "2s", "-proxy", dead, backend)
	if code != 1 || rep.InfoDiagnosis == nil || rep.InfoDiagnosis.Kind != "unreachable" || !strings.Contains(rep.InfoDiagnosis.Hint, "-proxy") {
		t.Errorf("exit %d, info diagnosis %+v: want the proxy unreachable", code, rep.InfoDiagnosis)
	}
	if code, _, errOut := sockline(t, "", "probe", "-proxy", "ftp://x", backend); code != 2 || !strings.Contains(errOut, "-proxy") {
		t.Errorf("-proxy ftp://x: exit %d, stderr %q", code, errOut)
	}
}

// A refused Origin is named, with the origin to allow.
func TestProbeOriginRefused(t *testing.T) {
	url := serve(t, httptest.NewUnstartedServer(echoHandler(t, sockjs.Options{AllowedOrigins: []string{"https://good.example"}})), false)
	code, rep, _ := probeJSON(t, "-timeout", "2s", "-H", "Origin: https://evil.example", url)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, r := range rep.Results {
		d := r.Diagnosis
		if rep.InfoDiagnosis != nil {
			d = rep.InfoDiagnosis
		}
		if r.OK || d == nil || d.Kind != "origin refused" || !strings.Contains(d.Hint, "https://evil.example") || !strings.Contains(d.Hint, "AllowedOrigins") {
			t.Errorf("%+v (diagnosis %+v): want origin refused", r, d)
		}
	}
	code, rep, _ = probeJSON(t, "-timeout", "2s", "-H", "Origin: https://good.example", url)
	if code != 0 {
		t.Errorf("allowed origin: exit %d, %+v", code, rep)
	}
}

// Behind a round-robin balancer without sticky sessions that drops the
// JSESSIONID cookie, the HTTP transports fail (their requests reach two
// servers) and probe says a cookie is needed.
func TestProbeCookieNeeded(t *testing.T) {
	var backends []*url.URL
	for range 2 {
		u, _ := url.Parse(serve(t, httptest.NewUnstartedServer(echoHandler(t, sockjs.Options{JSessionID: true})), false))
		backends = append(backends, u)
	}
	var next atomic.Uint64
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	rp := &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { pr.SetURL(backends[next.Add(1)%2]) },
		Transport:      tr,
		ModifyResponse: func(resp *http.Response) error { resp.Header.Del("Set-Cookie"); return nil },
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	front := serve(t, httptest.NewUnstartedServer(rp), false)
	_, rep, _ := probeJSON(t, "-timeout", "2s", front)
	wantKinds(t, rep, map[string]string{"websocket": "ok", "xhr-streaming": "cookie needed", "eventsource": "cookie needed", "xhr-polling": "cookie needed"})
	if d := result(t, rep, "xhr-polling").Diagnosis; d == nil || !strings.Contains(d.Hint, "sticky sessions") {
		t.Errorf("diagnosis %+v", d)
	}
}

// Every command's -h prints its usage to stdout and exits 0; a bad flag
// prints it to stderr and exits 2.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"help", "probe"}, {"probe", "-h"}, {"probe", "--help"}, {"cat", "-h"}, {"bench", "-h"}} {
		code, out, errOut := sockline(t, "", args...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: sockline ") || !strings.Contains(out, "example") {
			t.Errorf("sockline %q: exit %d, stderr %q, stdout:\n%s", args, code, errOut, out)
		}
	}
	for _, cmd := range commands {
		_, out, _ := sockline(t, "", cmd.name, "-h")
		if !strings.Contains(out, cmd.about[:40]) || !strings.Contains(out, cmd.examples[0]) {
			t.Errorf("%s -h lacks its text or examples:\n%s", cmd.name, out)
		}
		// Every flag is listed, each with its default.
		if n, d := strings.Count(out, "\n  -"), strings.Count(out, "(default: "); n == 0 || n != d {
			t.Errorf("%s -h: %d flags, %d defaults:\n%s", cmd.name, n, d, out)
		}
	}
	_, out, _ := sockline(t, "", "probe", "-h")
	for _, flag := range []string{"-H 'Name: value'", "-cacert file", "-insecure", "-proxy URL", "-v\n", "-idle duration", "-timeout duration", "-json", "-m message"} {
		if !strings.Contains(out, "\n  "+flag) {
			t.Errorf("probe -h lacks %q:\n%s", flag, out)
		}
	}
	if !strings.Contains(out, "(default: 5s)") || !strings.Contains(out, "(default: 0s)") || !strings.Contains(out, "(default: none)") {
		t.Errorf("probe -h lacks defaults:\n%s", out)
	}
	t.Logf("probe -h:\n%s", out)

	for _, args := range [][]string{{"probe", "-nope", "http://x"}, {"cat", "-z"}, {"bench", "-n", "x", "http://x"}} {
		code, out, errOut := sockline(t, "", args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "usage: sockline "+args[0]) {
			t.Errorf("sockline %q: exit %d, stdout %q, stderr:\n%s", args, code, out, errOut)
		}
	}
}

// The built binary exits 0 on -h (run calls no os.Exit of its own: this
// checks the whole path).
func TestHelpBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "sockline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"-h"}, {"probe", "-h"}, {"cat", "-h"}, {"bench", "-h"}} {
		cmd := exec.Command(bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || !strings.HasPrefix(stdout.String(), "usage: sockline") || stderr.Len() != 0 {
			t.Errorf("sockline %q: %v, stdout %q, stderr %q", args, err, firstLine(stdout.String()), stderr.String())
		}
	}
	cmd := exec.Command(bin, "probe", "-nope")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); cmd.ProcessState.ExitCode() != 2 || !strings.Contains(stderr.String(), "usage: sockline probe") {
		t.Errorf("probe -nope: %v, exit %d, stderr %q", err, cmd.ProcessState.ExitCode(), stderr.String())
	}
}

func firstLine(s string) string {
	line, _, _ := bufio.NewReader(strings.NewReader(s)).ReadLine()
	return string(line)
}

// A server that accepts connections and never answers: said so, and no
// cause claimed.
func TestProbeNoAnswer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	held.Add(1)
	go func() {
		defer held.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); held.Wait() })
	code, rep, _ := probeJSON(t, "-timeout", "300ms", "http://"+l.Addr().String()+"/echo")
	if d := rep.InfoDiagnosis; code != 1 || d == nil || d.Kind != "no answer" || !strings.HasPrefix(d.Cause, "unknown: GET /info got no answer at all") {
		t.Errorf("exit %d, info diagnosis %+v", code, d)
	}
}
