package sockjs_test

// Helpers for the protocol conformance tests (protocol_*_test.go): a test
// server with the conventional SockJS services, a tiny raw HTTP/1.x client
// that reads streaming responses one chunk at a time (chunk boundaries are
// part of the protocol: every frame is flushed as its own chunk), a
// WebSocket dialer, and the protocol suite's header checks as t.Helper()
// assertions.
//
// Rule ids (R-..., H-..., C-...) refer to docs/PROTOCOL-RULES.md, our
// restatement of sockjs-protocol-0.3.3. Where the project deviates from the
// 0.3.3 suite on purpose, the helper and the test say so.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/examples/testserver/services"
	"github.com/sockline/sockline/sockjs"
)

// ioTimeout bounds every read and write of the test clients, so that a
// server that never answers fails the test instead of hanging it.
const ioTimeout = 5 * time.Second

// suiteTimeout is the protocol suite's own client timeout (C-1, C-6): an
// answer the suite waits for must come within one second.
const suiteTimeout = time.Second

// The never-cached Cache-Control value. DEVIATION (1) from the 0.3.3 suite,
// which wants "no-store, no-cache, must-revalidate, max-age=0": the project
// sends sockjs-node's current value, with no-transform, as issue 3 asks.
const noCacheValue = "no-store, no-cache, no-transform, must-revalidate, max-age=0"

// Frames the tests compare against.
const (
	frameOpen       = "o"
	frameGoAway     = `c[3000,"Go away!"]`
	frameAnother    = `c[2010,"Another connection still open"]`
	frameInterrupt  = `c[1002,"Connection interrupted"]`
	greetingBody    = "Welcome to SockJS!\n"
	xhrPreludeBytes = 2049
)

// fixture is an httptest server with the services of the protocol suite
// (0.2), mounted with chi as examples/testserver does: /echo (response
// limit 4096), /close, /disabled_websocket_echo. Every origin is allowed,
// as in the test server.
type fixture struct {
	srv   *httptest.Server
	addr  string // host:port
	echo  *sockjs.Handler
	close *sockjs.Handler
	wsoff *sockjs.Handler
}

// newFixture starts the suite's services. mod, when set, changes the
// options shared by every service.
func newFixture(t testing.TB, mod ...func(*sockjs.Options)) *fixture {
	t.Helper()
	base := sockjs.Options{AllowAnyOrigin: true}
	for _, m := range mod {
		m(&base)
	}
	echoOpts := base
	echoOpts.ResponseLimit = 4096
	noWS := base
	noWS.DisableWebSocket = true
	f := &fixture{
		echo: sockjs.NewHandler(echoOpts, services.Echo),
		close: sockjs.NewHandler(base, func(_ context.Context, s *sockjs.Session) {
			_ = s.Close(3000, "Go away!")
		}),
		wsoff: sockjs.NewHandler(noWS, services.Echo),
	}
	r := chi.NewRouter()
	r.Mount("/echo", f.echo)
	r.Mount("/close", f.close)
	r.Mount("/disabled_websocket_echo", f.wsoff)
	f.srv = startServer(t, r, f.echo, f.close, f.wsoff)
	f.addr = f.srv.Listener.Addr().String()
	return f
}

// startServer serves h and, at cleanup, shuts down the SockJS handlers
// (which ends streaming responses and websockets, as Server.Close alone
// would not) before closing the server.
func startServer(t testing.TB, h http.Handler, handlers ...*sockjs.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		for _, sh := range handlers {
			if err := sh.Shutdown(ctx); err != nil {
				t.Errorf("Handler.Shutdown: %v", err)
			}
		}
	})
	return srv
}

// newSID returns a fresh session id (the suite uses uuid4 strings).
func newSID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ---------------------------------------------------------------------------
// Raw HTTP client.

// rawConn is one client TCP connection. Requests are written as given and
// responses read byte by byte, so that tests see exactly what the server
// sent: duplicate headers, framing, chunk boundaries, connection close.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	host string
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{t: t, conn: c, br: bufio.NewReader(c), host: addr}
}

// Close closes the connection (the client going away).
func (c *rawConn) Close() { _ = c.conn.Close() }

// request is what rawConn.Do writes.
type request struct {
	Method string
	Path   string   // written as is: no cleaning, no escaping
	Proto  string   // "HTTP/1.1" when empty
	Header []string // "Name: value" lines, written as given after Host
	Body   string
	// A POST carries Content-Length (C-2) unless a Content-Length line is
	// in Header; other methods carry none unless Body is set.
}

// Write sends the request without reading anything.
func (c *rawConn) Write(q request) {
	c.t.Helper()
	proto := q.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n", q.Method, q.Path, proto, c.host)
	hasLen := false
	for _, h := range q.Header {
		if strings.HasPrefix(strings.ToLower(h), "content-length:") {
			hasLen = true
		}
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	if !hasLen && (q.Method == http.MethodPost || q.Body != "") {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(q.Body))
	}
	b.WriteString("\r\n")
	b.WriteString(q.Body)
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		c.t.Fatalf("%s %s: write: %v", q.Method, q.Path, err)
	}
}

// Do sends q and reads the response's status line and headers.
func (c *rawConn) Do(q request) *response {
	c.t.Helper()
	c.Write(q)
	return c.ReadResponse(q.Method + " " + q.Path)
}

// response is a response whose head has been read; its body is read with
// Chunk, Body or the rawConn's ReadN.
type response struct {
	c      *rawConn
	what   string // the request, for messages
	Proto  string
	Status int
	Header http.Header
	body   *string // set once Body has read it
}

// ReadResponse reads the next response head from the connection.
func (c *rawConn) ReadResponse(what string) *response {
	c.t.Helper()
	r, err := c.readResponse(what)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// readResponse is ReadResponse for any goroutine: it returns its error.
func (c *rawConn) readResponse(what string) (*response, error) {
	c.deadline(ioTimeout)
	tp := textproto.NewReader(c.br)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, fmt.Errorf("%s: reading status line: %w", what, err)
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if err != nil || !strings.HasPrefix(proto, "HTTP/1.") {
		return nil, fmt.Errorf("%s: malformed status line %q", what, line)
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("%s: reading headers: %w", what, err)
	}
	return &response{c: c, what: what, Proto: proto, Status: status, Header: http.Header(mh)}, nil
}

func (c *rawConn) deadline(d time.Duration) { _ = c.conn.SetReadDeadline(time.Now().Add(d)) }

// Chunked reports whether the body uses chunked transfer coding.
func (r *response) Chunked() bool {
	return strings.EqualFold(r.Header.Get("Transfer-Encoding"), "chunked")
}

// Chunk reads the next HTTP chunk of a chunked response. It returns
// ok=false for the zero-length terminating chunk (C-4: the stream ended).
func (r *response) Chunk() (data string, ok bool) {
	r.c.t.Helper()
	return r.ChunkWithin(ioTimeout)
}

// ChunkWithin is Chunk with its own read timeout.
func (r *response) ChunkWithin(d time.Duration) (string, bool) {
	r.c.t.Helper()
	s, ok, err := r.chunk(d)
	if err != nil {
		r.c.t.Fatal(err)
	}
	return s, ok
}

// chunk is ChunkWithin for any goroutine.
func (r *response) chunk(d time.Duration) (string, bool, error) {
	if !r.Chunked() {
		return "", false, fmt.Errorf("%s: reading a chunk of a response that is not chunked (headers %v)", r.what, r.Header)
	}
	r.c.deadline(d)
	tp := textproto.NewReader(r.c.br)
	line, err := tp.ReadLine()
	if err != nil {
		return "", false, fmt.Errorf("%s: reading chunk size: %w", r.what, err)
	}
	sizeHex, _, _ := strings.Cut(line, ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
	if err != nil || size < 0 {
		return "", false, fmt.Errorf("%s: malformed chunk size line %q", r.what, line)
	}
	if size == 0 {
		for { // trailers, up to the empty line
			l, err := tp.ReadLine()
			if err != nil {
				return "", false, fmt.Errorf("%s: reading the end of the chunked body: %w", r.what, err)
			}
			if l == "" {
				return "", false, nil
			}
		}
	}
	buf := make([]byte, size+2)
	if _, err := io.ReadFull(r.c.br, buf); err != nil {
		return "", false, fmt.Errorf("%s: reading a %d-byte chunk: %w", r.what, size, err)
	}
	if string(buf[size:]) != "\r\n" {
		return "", false, fmt.Errorf("%s: chunk of %d bytes not followed by CRLF", r.what, size)
	}
	return string(buf[:size]), true, nil
}

// NextChunk reads a chunk that must be there (not the terminating one).
func (r *response) NextChunk() string {
	r.c.t.Helper()
	s, ok := r.Chunk()
	if !ok {
		r.c.t.Fatalf("%s: the response ended; want another chunk", r.what)
	}
	return s
}

// ExpectChunk reads the next chunk and checks it equals want exactly.
func (r *response) ExpectChunk(want string) {
	r.c.t.Helper()
	if got := r.NextChunk(); got != want {
		r.c.t.Fatalf("%s: chunk = %q; want %q", r.what, abbrev(got), abbrev(want))
	}
}

// ExpectEnd reads the terminating chunk (C-4: a stream must end cleanly).
func (r *response) ExpectEnd() {
	r.c.t.Helper()
	if s, ok := r.Chunk(); ok {
		r.c.t.Fatalf("%s: got chunk %q; want the end of the response", r.what, abbrev(s))
	}
}

// Body reads the whole body the way the suite's client does (C-3): chunked
// until the last chunk; else Content-Length bytes; else, with Connection:
// close, up to EOF. 101, 204 and 304 have no body. Any other response that
// has none of these fails the test: the suite's client cannot read it.
func (r *response) Body() string {
	r.c.t.Helper()
	s, err := r.readBody()
	if err != nil {
		r.c.t.Fatal(err)
	}
	return s
}

// readBody is Body for any goroutine.
func (r *response) readBody() (string, error) {
	if r.body != nil {
		return *r.body, nil
	}
	var body string
	switch {
	case r.Status == 101 || r.Status == 204 || r.Status == 304:
		if cl := r.Header.Get("Content-Length"); cl != "" && cl != "0" {
			return "", fmt.Errorf("%s: %d with Content-Length %s", r.what, r.Status, cl)
		}
	case r.Chunked():
		var b strings.Builder
		for {
			s, ok, err := r.chunk(ioTimeout)
			if err != nil {
				return "", err
			}
			if !ok {
				break
			}
			b.WriteString(s)
		}
		body = b.String()
	case r.Header.Get("Content-Length") != "":
		n, err := strconv.Atoi(r.Header.Get("Content-Length"))
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s: bad Content-Length %q", r.what, r.Header.Get("Content-Length"))
		}
		r.c.deadline(ioTimeout)
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.c.br, buf); err != nil {
			return "", fmt.Errorf("%s: reading %d body bytes: %w", r.what, n, err)
		}
		body = string(buf)
	case strings.EqualFold(r.Header.Get("Connection"), "close") || r.Proto == "HTTP/1.0":
		r.c.deadline(ioTimeout)
		b, err := io.ReadAll(r.c.br)
		if err != nil {
			return "", fmt.Errorf("%s: reading body to EOF: %w", r.what, err)
		}
		body = string(b)
	default:
		return "", fmt.Errorf("%s: status %d with no Transfer-Encoding, Content-Length or Connection: close: the suite's client cannot read it (C-3); headers %v",
			r.what, r.Status, r.Header)
	}
	r.body = &body
	return body, nil
}

// result is a response read by a goroutine (see readAsync).
type result struct {
	r    *response
	body string
	err  error
}

// readAsync reads the next whole response on c in a goroutine, for tests
// that wait on several responses at once. Write the request first.
func readAsync(c *rawConn, what string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		r, err := c.readResponse(what)
		if err != nil {
			ch <- result{err: err}
			return
		}
		body, err := r.readBody()
		ch <- result{r: r, body: body, err: err}
	}()
	return ch
}

// ReadN reads exactly n raw bytes from the connection.
func (c *rawConn) ReadN(n int) []byte {
	c.t.Helper()
	c.deadline(ioTimeout)
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.br, buf); err != nil {
		c.t.Fatalf("reading %d bytes: %v", n, err)
	}
	return buf
}

// ExpectClosed checks that the server closes the connection (EOF or reset)
// within d, without sending anything more.
func (c *rawConn) ExpectClosed(d time.Duration) {
	c.t.Helper()
	c.deadline(d)
	b, err := c.br.ReadByte()
	switch {
	case err == nil:
		rest, _ := c.br.Peek(c.br.Buffered())
		c.t.Fatalf("connection still sends data: %q; want it closed", abbrev(string(b)+string(rest)))
	case errors.Is(err, io.EOF), isReset(err):
	default:
		c.t.Fatalf("connection not closed within %v: %v", d, err)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

// do sends one request on a fresh connection and reads the whole response.
func (f *fixture) do(t testing.TB, method, path, body string, header ...string) *response {
	t.Helper()
	c := dialRaw(t, f.addr)
	r := c.Do(request{Method: method, Path: path, Body: body, Header: header})
	r.Body()
	return r
}

// open starts a streaming request on a fresh connection and returns the
// response with only its head read.
func (f *fixture) open(t testing.TB, method, path, body string, header ...string) (*rawConn, *response) {
	t.Helper()
	c := dialRaw(t, f.addr)
	return c, c.Do(request{Method: method, Path: path, Body: body, Header: header})
}

// post is f.do with POST.
func (f *fixture) post(t testing.TB, path, body string, header ...string) *response {
	t.Helper()
	return f.do(t, http.MethodPost, path, body, header...)
}

// get is f.do with GET.
func (f *fixture) get(t testing.TB, path string, header ...string) *response {
	t.Helper()
	return f.do(t, http.MethodGet, path, "", header...)
}

// sessionBase returns "/<prefix>/000/<sid>" for a fresh sid.
func sessionBase(prefix string) string { return prefix + "/000/" + newSID() }

// ---------------------------------------------------------------------------
// Assertions: the suite's helper checks (H-*), as the project implements
// them.

func abbrev(s string) string {
	if len(s) > 300 {
		return s[:150] + fmt.Sprintf("...(%d bytes)...", len(s)-300) + s[len(s)-150:]
	}
	return s
}

func expectStatus(t testing.TB, r *response, want int) {
	t.Helper()
	if r.Status != want {
		body := ""
		if r.body != nil {
			body = *r.body
		}
		t.Fatalf("%s: status %d; want %d (body %q)", r.what, r.Status, want, abbrev(body))
	}
}

// expectBody checks status and the exact body.
func expectBody(t testing.TB, r *response, status int, want string) {
	t.Helper()
	expectStatus(t, r, status)
	if got := r.Body(); got != want {
		t.Fatalf("%s: body %q; want %q", r.what, abbrev(got), abbrev(want))
	}
}

// expectBodyContains checks status and that the body contains want.
func expectBodyContains(t testing.TB, r *response, status int, want string) {
	t.Helper()
	expectStatus(t, r, status)
	if got := r.Body(); !strings.Contains(got, want) {
		t.Fatalf("%s: body %q does not contain %q", r.what, abbrev(got), want)
	}
}

// single returns the one value of header name; a repeated header fails the
// test, since the suite's client joins repeated values (C-5).
func single(t testing.TB, r *response, name string) string {
	t.Helper()
	vs := r.Header.Values(name)
	if len(vs) > 1 {
		t.Fatalf("%s: header %s sent %d times: %q (C-5)", r.what, name, len(vs), vs)
	}
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// expectHeader checks that header name is sent once with exactly want.
func expectHeader(t testing.TB, r *response, name, want string) {
	t.Helper()
	if got := single(t, r, name); got != want {
		t.Fatalf("%s: %s = %q; want %q", r.what, name, got, want)
	}
}

// expectNoHeader checks that header name is missing or empty.
func expectNoHeader(t testing.TB, r *response, name string) {
	t.Helper()
	if got := strings.Join(r.Header.Values(name), ", "); got != "" {
		t.Fatalf("%s: %s = %q; want none", r.what, name, got)
	}
}

// expectContentType is H-CT: spaces removed, compared case-sensitively.
func expectContentType(t testing.TB, r *response, want string) {
	t.Helper()
	got := single(t, r, "Content-Type")
	if got == "" {
		t.Fatalf("%s: no Content-Type; want %q", r.what, want)
	}
	if g := strings.ReplaceAll(got, " ", ""); g != want {
		t.Fatalf("%s: Content-Type %q; want %q (spaces ignored, case-sensitive)", r.what, got, want)
	}
}

// expectNoCookie is H-NOCOOKIE.
func expectNoCookie(t testing.TB, r *response) {
	t.Helper()
	expectNoHeader(t, r, "Set-Cookie")
}

// expectNotCached is H-NOTCACHED with DEVIATION (1): the project's
// Cache-Control value (see noCacheValue); no Expires, no Last-Modified.
func expectNotCached(t testing.TB, r *response) {
	t.Helper()
	expectHeader(t, r, "Cache-Control", noCacheValue)
	expectNoHeader(t, r, "Expires")
	expectNoHeader(t, r, "Last-Modified")
}

// expectCORS is H-CORS as the project implements it. DEVIATION (2) from the
// 0.3.3 suite (which wants "*" plus credentials "true" both without Origin
// and for "Origin: null"):
//   - no Origin: "Access-Control-Allow-Origin: *" and NO
//     Access-Control-Allow-Credentials (browsers ignore credentials with *);
//   - an allowed Origin, "null" included: echoed exactly, never "*", with
//     "Access-Control-Allow-Credentials: true".
func expectCORS(t testing.TB, r *response, origin string) {
	t.Helper()
	if origin == "" {
		expectHeader(t, r, "Access-Control-Allow-Origin", "*")
		expectNoHeader(t, r, "Access-Control-Allow-Credentials")
		return
	}
	expectHeader(t, r, "Access-Control-Allow-Origin", origin)
	expectHeader(t, r, "Access-Control-Allow-Credentials", "true")
}

// expect404 is H-404.
func expect404(t testing.TB, r *response) {
	t.Helper()
	expectStatus(t, r, http.StatusNotFound)
	r.Body() // C-3: the suite reads it
}

// expect405 is H-405: 405, no Content-Type, a non-empty Allow, empty body.
func expect405(t testing.TB, r *response) {
	t.Helper()
	expectStatus(t, r, http.StatusMethodNotAllowed)
	expectNoHeader(t, r, "Content-Type")
	if single(t, r, "Allow") == "" {
		t.Fatalf("%s: 405 without an Allow header", r.what)
	}
	if b := r.Body(); b != "" {
		t.Fatalf("%s: 405 with body %q; want none", r.what, b)
	}
}

var maxAgeRe = regexp.MustCompile(`max-age=[1-9][0-9]{6}`)

// expectOptions is H-OPTIONS: OPTIONS path with no Origin, with "Origin:
// test" and with "Origin: null" (the fixture allows every origin). Each
// answer is a 204 cached for a long time with the exact allowed methods,
// an empty body and CORS headers; DEVIATION (2): "null" is echoed as
// "null" with credentials, never answered "*".
func expectOptions(t testing.TB, f *fixture, path, methods string) {
	t.Helper()
	for _, origin := range []string{"", "test", "null"} {
		var hdr []string
		if origin != "" {
			hdr = append(hdr, "Origin: "+origin)
		}
		r := f.do(t, http.MethodOptions, path, "", hdr...)
		expectStatus(t, r, http.StatusNoContent)
		cc := single(t, r, "Cache-Control")
		if !strings.Contains(cc, "public") || !maxAgeRe.MatchString(cc) {
			t.Fatalf("OPTIONS %s (Origin %q): Cache-Control %q; want public and max-age >= 1000000", path, origin, cc)
		}
		if single(t, r, "Expires") == "" {
			t.Fatalf("OPTIONS %s (Origin %q): no Expires", path, origin)
		}
		if age, err := strconv.Atoi(single(t, r, "Access-Control-Max-Age")); err != nil || age <= 1000000 {
			t.Fatalf("OPTIONS %s (Origin %q): Access-Control-Max-Age %q; want an integer > 1000000",
				path, origin, r.Header.Get("Access-Control-Max-Age"))
		}
		expectHeader(t, r, "Access-Control-Allow-Methods", methods)
		if b := r.Body(); b != "" {
			t.Fatalf("OPTIONS %s: body %q; want none", path, b)
		}
		expectCORS(t, r, origin)
	}
}

// ---------------------------------------------------------------------------
// Frames.

// decodeMessages parses an "a[...]" frame (without the transport's
// newline) into its messages. The frame must be valid UTF-8 and valid JSON.
func decodeMessages(t testing.TB, f string) []string {
	t.Helper()
	if !strings.HasPrefix(f, "a[") {
		t.Fatalf("frame %q is not a message frame", abbrev(f))
	}
	var msgs []string
	if err := strictUnmarshal(f[1:], &msgs); err != nil {
		t.Fatalf("frame %q: %v", abbrev(f), err)
	}
	return msgs
}

// strictUnmarshal is json.Unmarshal that also refuses invalid UTF-8 (which
// encoding/json would silently replace with U+FFFD).
func strictUnmarshal(s string, v any) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	return json.Unmarshal([]byte(s), v)
}

// ---------------------------------------------------------------------------
// WebSocket.

// dialWS opens an RFC 6455 WebSocket to path on addr.
func dialWS(t testing.TB, addr, path string, header ...string) *websocket.Conn {
	t.Helper()
	h := http.Header{}
	for _, l := range header {
		k, v, _ := strings.Cut(l, ":")
		h.Add(k, strings.TrimSpace(v))
	}
	d := websocket.Dialer{HandshakeTimeout: ioTimeout}
	conn, resp, err := d.Dial("ws://"+addr+path, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("websocket %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// wsRead reads the next text message within d.
func wsRead(t testing.TB, c *websocket.Conn, d time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	typ, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("websocket: message type %d; want text", typ)
	}
	return string(data)
}

// wsExpect reads the next message and checks it equals want exactly.
func wsExpect(t testing.TB, c *websocket.Conn, want string) {
	t.Helper()
	if got := wsRead(t, c, ioTimeout); got != want {
		t.Fatalf("websocket message %q; want %q", abbrev(got), abbrev(want))
	}
}

// wsSend writes a text message.
func wsSend(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("websocket write: %v", err)
	}
}

// wsExpectClosed checks that the next read within d finds the connection
// closed (a close frame or the TCP connection ending), with no message
// first. Receiving nothing for d is a failure, not a close (C-6).
func wsExpectClosed(t testing.TB, c *websocket.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, data, err := c.ReadMessage()
	if err == nil {
		t.Fatalf("websocket: got message %q; want the connection closed", abbrev(string(data)))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("websocket: not closed within %v", d)
	}
}

// racePolls sends two long-polls for the open session at base, on two
// connections, without waiting in between. Nothing observable tells when a
// hanging poll has attached (the suite sleeps 0.25 s), so the test does not
// guess: exactly one of the two must be answered, within the suite's 1 s,
// with the 2010 frame, and the other must still be waiting. racePolls
// returns the waiting one.
func racePolls(t testing.TB, f *fixture, base string) (*rawConn, <-chan result) {
	t.Helper()
	c1 := dialRaw(t, f.addr)
	c1.Write(request{Method: http.MethodPost, Path: base + "/xhr"})
	ch1 := readAsync(c1, "poll 1")
	c2 := dialRaw(t, f.addr)
	c2.Write(request{Method: http.MethodPost, Path: base + "/xhr"})
	ch2 := readAsync(c2, "poll 2")
	var res result
	var waiting *rawConn
	var waitCh <-chan result
	select {
	case res = <-ch1:
		waiting, waitCh = c2, ch2
	case res = <-ch2:
		waiting, waitCh = c1, ch1
	case <-time.After(suiteTimeout):
		t.Fatalf("two polls of one session: neither answered within %v; want the second answered with %s at once", suiteTimeout, frameAnother)
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	expectBody(t, res.r, http.StatusOK, frameAnother+"\n")
	select {
	case other := <-waitCh:
		t.Fatalf("the first receiver was answered too (%v, %q); want it still waiting", other.err, other.body)
	default:
	}
	return waiting, waitCh
}

// await waits for an async response and checks it.
func await(t testing.TB, ch <-chan result, status int, body string) {
	t.Helper()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatal(res.err)
		}
		expectBody(t, res.r, status, body)
	case <-time.After(ioTimeout):
		t.Fatalf("no response within %v; want %q", ioTimeout, body)
	}
}

// newAppFixture serves app alone at /app (chi Mount) with opts as given
// (plus AllowAnyOrigin); f.echo is its handler.
func newAppFixture(t testing.TB, opts sockjs.Options, app sockjs.HandlerFunc) *fixture {
	t.Helper()
	opts.AllowAnyOrigin = true
	h := sockjs.NewHandler(opts, app)
	r := chi.NewRouter()
	r.Mount("/app", h)
	f := &fixture{echo: h}
	f.srv = startServer(t, r, h)
	f.addr = f.srv.Listener.Addr().String()
	return f
}

// pollMessages polls base/xhr until n messages have come, and returns them
// and the number of frames they came in.
func pollMessages(t testing.TB, f *fixture, base string, n int) (msgs []string, frames int) {
	t.Helper()
	for len(msgs) < n {
		r := f.post(t, base+"/xhr", "")
		expectStatus(t, r, http.StatusOK)
		body := r.Body()
		if !strings.HasSuffix(body, "\n") {
			t.Fatalf("poll body %q does not end in a newline", abbrev(body))
		}
		msgs = append(msgs, decodeMessages(t, strings.TrimSuffix(body, "\n"))...)
		frames++
	}
	if len(msgs) != n {
		t.Fatalf("got %d messages; want %d", len(msgs), n)
	}
	return msgs, frames
}

// waitFor waits for ch to be closed (or to deliver), failing after
// ioTimeout.
func waitFor[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(ioTimeout):
		t.Fatalf("timed out after %v waiting for %s", ioTimeout, what)
	}
}

// collect reads messages for the session at base over transport ("xhr",
// "xhr_streaming" or "websocket") until it has n, opening the session
// first: polls and streams reconnect as a client would (a streaming
// response ends at the response limit). A close frame fails the test.
func collect(t testing.TB, f *fixture, transport, base string, n int) []string {
	t.Helper()
	var msgs []string
	switch transport {
	case "xhr":
		expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
		msgs, _ = pollMessages(t, f, base, n)
	case "xhr_streaming":
		opened := false
		for responses := 0; len(msgs) < n; responses++ {
			if responses > 10000 {
				t.Fatalf("%d messages after %d responses; want %d", len(msgs), responses, n)
			}
			c, r := f.open(t, http.MethodPost, base+"/xhr_streaming", "")
			expectStatus(t, r, http.StatusOK)
			r.ExpectChunk(strings.Repeat("h", 2048) + "\n")
			for len(msgs) < n {
				ch, ok := r.Chunk()
				if !ok {
					break // the response limit: reconnect
				}
				switch {
				case ch == "o\n" && !opened:
					opened = true
				case ch == "h\n":
				case strings.HasPrefix(ch, "a[") && strings.HasSuffix(ch, "\n"):
					msgs = append(msgs, decodeMessages(t, strings.TrimSuffix(ch, "\n"))...)
				default:
					t.Fatalf("after %d messages: unexpected chunk %q", len(msgs), abbrev(ch))
				}
			}
			c.Close()
		}
	case "websocket":
		ws := dialWS(t, f.addr, base+"/websocket")
		wsExpect(t, ws, frameOpen)
		for len(msgs) < n {
			m := wsRead(t, ws, ioTimeout)
			if m == "h" {
				continue
			}
			msgs = append(msgs, decodeMessages(t, m)...)
		}
		_ = ws.Close()
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	if len(msgs) != n {
		t.Fatalf("got %d messages; want %d", len(msgs), n)
	}
	return msgs
}
