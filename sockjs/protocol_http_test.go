package sockjs_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// closeCheck is how long the suite waits to see a connection closed (the
// server's connection goroutine may be descheduled a while on a loaded
// machine; data, or no close at all, still fails).
const closeCheck = time.Second

// R-HTTP10-1: the greeting over HTTP/1.0 with keep-alive.
func TestProtocolHTTP10Synchronous(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := dialRaw(t, f.addr)
	q := request{Method: http.MethodGet, Path: "/echo", Proto: "HTTP/1.0", Header: []string{"Connection: Keep-Alive"}}
	r := c.Do(q)
	expectStatus(t, r, http.StatusOK)
	if r.Proto != "HTTP/1.0" && r.Proto != "HTTP/1.1" {
		t.Fatalf("response version %s", r.Proto)
	}
	expectNoHeader(t, r, "Transfer-Encoding")
	conn := strings.ToLower(single(t, r, "Connection"))
	if single(t, r, "Content-Length") == "" {
		// Case (a): no length, so the connection must close after the body.
		if conn != "close" {
			t.Fatalf("no Content-Length and Connection %q; want close", conn)
		}
		if b := string(c.ReadN(len(greetingBody))); b != greetingBody {
			t.Fatalf("body %q", b)
		}
		c.ExpectClosed(closeCheck)
		return
	}
	// Case (b).
	expectHeader(t, r, "Content-Length", "19")
	expectBody(t, r, http.StatusOK, greetingBody)
	if conn == "" || conn == "close" {
		c.ExpectClosed(closeCheck)
		return
	}
	if conn != "keep-alive" {
		t.Fatalf("Connection %q; want keep-alive", conn)
	}
	expectBody(t, c.Do(q), http.StatusOK, greetingBody)
}

// R-HTTP10-2: xhr_streaming over HTTP/1.0: no chunking, no length, the
// frames as raw bytes, and the connection closed at the end.
func TestProtocolHTTP10Streaming(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := dialRaw(t, f.addr)
	r := c.Do(request{Method: http.MethodPost, Path: sessionBase("/close") + "/xhr_streaming", Proto: "HTTP/1.0",
		Header: []string{"Connection: Keep-Alive", "Content-Length: 0"}})
	expectStatus(t, r, http.StatusOK)
	expectNoHeader(t, r, "Transfer-Encoding")
	expectNoHeader(t, r, "Content-Length")
	if p := string(c.ReadN(xhrPreludeBytes)); p[0] != 'h' {
		t.Fatalf("prelude starts with %q; want h", p[0])
	}
	if got := string(c.ReadN(2)); got != "o\n" {
		t.Fatalf("open frame %q", got)
	}
	if got := string(c.ReadN(len(frameGoAway) + 1)); got != frameGoAway+"\n" {
		t.Fatalf("close frame %q", got)
	}
	c.ExpectClosed(closeCheck)
}

// R-HTTP11-1: the greeting over HTTP/1.1 keeps the connection open.
func TestProtocolHTTP11Synchronous(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := dialRaw(t, f.addr)
	q := request{Method: http.MethodGet, Path: "/echo", Header: []string{"Connection: Keep-Alive"}}
	r := c.Do(q)
	expectStatus(t, r, http.StatusOK)
	if conn := strings.ToLower(single(t, r, "Connection")); conn != "" && conn != "keep-alive" {
		t.Fatalf("Connection %q; want none or keep-alive", conn)
	}
	if r.Chunked() {
		r.ExpectChunk(greetingBody)
		r.ExpectEnd()
	} else {
		expectHeader(t, r, "Content-Length", "19")
		expectBody(t, r, http.StatusOK, greetingBody)
	}
	expectStatus(t, c.Do(q), http.StatusOK)
}

// R-HTTP11-2: xhr_streaming over HTTP/1.1: chunked, each frame a chunk,
// then the terminating chunk.
func TestProtocolHTTP11Streaming(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := dialRaw(t, f.addr)
	r := c.Do(request{Method: http.MethodPost, Path: sessionBase("/close") + "/xhr_streaming",
		Header: []string{"Connection: Keep-Alive"}})
	expectStatus(t, r, http.StatusOK)
	if single(t, r, "Transfer-Encoding") == "" {
		t.Fatal("no Transfer-Encoding")
	}
	expectNoHeader(t, r, "Content-Length")
	if p := r.NextChunk(); p[0] != 'h' {
		t.Fatalf("first chunk starts with %q; want h", p[0])
	}
	r.ExpectChunk("o\n")
	r.ExpectChunk(frameGoAway + "\n")
	r.ExpectEnd()
}
