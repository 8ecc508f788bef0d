package sockjs_test

// The protocol tests' raw HTTP/1.x client: see protocol_test_helpers_test.go.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
