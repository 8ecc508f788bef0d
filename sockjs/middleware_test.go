package sockjs_test

// Every transport behind a common chi middleware stack (RequestID, RealIP,
// Logger, Recoverer, Compress), driven as a browser drives it: gzip
// accepted, streaming bodies decoded as they arrive.

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/sockjs"
)

// mwMessage has characters each envelope escapes its own way.
const mwMessage = `hi <b> & 100% "q"`

// mwEcho echoes every message and closes the session with 3000 "Go away!"
// when it receives "close".
func mwEcho(ctx context.Context, s *sockjs.Session) {
	for {
		msg, err := s.Recv(ctx)
		if err != nil {
			return
		}
		if msg == "close" {
			_ = s.Close(3000, "Go away!")
			return
		}
		_ = s.Send(msg)
	}
}

// mwServer is the echo service mounted at /echo behind the middleware
// stack, and a client that asks for gzip and decodes it itself.
type mwServer struct {
	srv   *httptest.Server
	hc    *http.Client
	major int // the HTTP version every response must come over
}

func newMWServer(t *testing.T, h2 bool) *mwServer {
	t.Helper()
	h := sockjs.NewHandler(sockjs.Options{AllowAnyOrigin: true, RawWebSocket: true}, mwEcho)
	r := chi.NewRouter()
	r.Use(middleware.RequestID, middleware.RealIP,
		middleware.RequestLogger(&middleware.DefaultLogFormatter{Logger: log.New(io.Discard, "", 0), NoColor: true}),
		middleware.Recoverer, middleware.Compress(5))
	r.Mount("/echo", h)
	s := &mwServer{srv: httptest.NewUnstartedServer(r), major: 1}
	if h2 {
		s.srv.EnableHTTP2 = true
		s.srv.StartTLS()
		s.major = 2
	} else {
		s.srv.Start()
	}
	tr := s.srv.Client().Transport.(*http.Transport).Clone()
	tr.DisableCompression = true // a gzip stream must be decoded as it comes
	s.hc = &http.Client{Transport: tr}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Handler.Shutdown: %v", err)
		}
		s.srv.Close()
		tr.CloseIdleConnections()
	})
	return s
}

// do sends a request as a browser would (gzip accepted) and returns the
// response with its body decoded.
func (s *mwServer) do(t *testing.T, ctx context.Context, method, path, contentType, body string) (*http.Response, io.Reader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.ProtoMajor != s.major {
		t.Fatalf("%s %s came over %s; want HTTP/%d", method, path, resp.Proto, s.major)
	}
	switch enc := resp.Header.Get("Content-Encoding"); {
	case resp.StatusCode == http.StatusNoContent:
		// No body, though Compress labels it gzip too; browsers read none.
		return resp, resp.Body
	case enc == "":
		return resp, resp.Body
	case enc == "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: gzip header: %v", method, path, err)
		}
		return resp, zr
	default:
		t.Fatalf("%s %s: Content-Encoding %q; want gzip or none", method, path, enc)
		return nil, nil
	}
}

// call sends a request and returns its status and whole decoded body.
func (s *mwServer) call(t *testing.T, method, path, contentType, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
	defer cancel()
	resp, r := s.do(t, ctx, method, path, contentType, body)
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

// xhrSend sends msg with xhr_send, as the streaming transports' clients do.
func (s *mwServer) xhrSend(t *testing.T, base, msg string) {
	t.Helper()
	if st, b := s.call(t, http.MethodPost, base+"/xhr_send", "text/plain", mwPayload(msg)); st != http.StatusNoContent {
		t.Fatalf("xhr_send: %d %q; want 204", st, b)
	}
}

func mwPayload(msg string) string {
	p, _ := json.Marshal([]string{msg})
	return string(p)
}

// expectEcho checks that frame carries exactly mwMessage.
func expectEcho(t *testing.T, frame string) {
	t.Helper()
	if got := decodeMessages(t, frame); len(got) != 1 || got[0] != mwMessage {
		t.Fatalf("frame %q; want the message %q echoed", frame, mwMessage)
	}
}

// streamEnvelope is how a client reads one streaming transport's response.
type streamEnvelope struct {
	method, path string // path after the session's base
	prelude      func(br *bufio.Reader) error
	next         func(br *bufio.Reader) (string, error) // the next frame
}

var (
	xhrStreamingEnvelope = streamEnvelope{
		method: http.MethodPost, path: "/xhr_streaming",
		prelude: func(br *bufio.Reader) error { return expectLine(br, xhrPrelude) },
		next: func(br *bufio.Reader) (string, error) {
			l, err := br.ReadString('\n')
			return strings.TrimSuffix(l, "\n"), err
		},
	}
	eventSourceEnvelope = streamEnvelope{
		method: http.MethodGet, path: "/eventsource",
		prelude: func(br *bufio.Reader) error { return expectLine(br, "\r\n") },
		next: func(br *bufio.Reader) (string, error) {
			l, err := br.ReadString('\n')
			if err != nil {
				return "", err
			}
			f, ok := strings.CutPrefix(l, "data: ")
			if !ok || !strings.HasSuffix(f, "\r\n") {
				return "", errors.New("record line " + l)
			}
			return strings.ReplaceAll(strings.TrimSuffix(f, "\r\n"), "%25", "%"), expectLine(br, "\r\n")
		},
	}
	htmlfileEnvelope = streamEnvelope{
		method: http.MethodGet, path: "/htmlfile?c=cb",
		prelude: func(br *bufio.Reader) error {
			var page string
			for !strings.HasSuffix(page, "\r\n\r\n") {
				l, err := br.ReadString('\n')
				if err != nil {
					return err
				}
				page += l
			}
			if !strings.Contains(page, "var c = parent.cb;") {
				return errors.New("prelude without the callback: " + page)
			}
			return nil
		},
		next: func(br *bufio.Reader) (string, error) {
			if err := expectLine(br, "<script>\n"); err != nil {
				return "", err
			}
			l, err := br.ReadString('\n')
			if err != nil {
				return "", err
			}
			q, ok := strings.CutPrefix(l, "p(")
			q, ok2 := strings.CutSuffix(q, ");\n")
			var f string
			if !ok || !ok2 || json.Unmarshal([]byte(q), &f) != nil {
				return "", errors.New("script line " + l)
			}
			return f, expectLine(br, "</script>\r\n")
		},
	}
)

func expectLine(br *bufio.Reader, want string) error {
	l, err := br.ReadString('\n')
	if err == nil && l != want {
		err = errors.New("line " + abbrev(l) + ", want " + abbrev(want))
	}
	return err
}

// testStream opens a stream, and over it checks the open frame, an echo
// of a message sent with xhr_send, the close frame and the response's
// clean end (for gzip, a valid trailer), each read as it arrives.
func testStream(t *testing.T, s *mwServer, base string, env streamEnvelope, gzipped bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*ioTimeout)
	defer cancel()
	resp, body := s.do(t, ctx, env.method, base+env.path, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Encoding") == "gzip"; got != gzipped {
		t.Fatalf("gzipped %v; want %v (Compress's content types)", got, gzipped)
	}
	br := bufio.NewReader(body)
	if err := env.prelude(br); err != nil {
		t.Fatalf("prelude: %v", err)
	}
	next := func(what string) string {
		t.Helper()
		for {
			f, err := env.next(br)
			if err != nil {
				t.Fatalf("reading the %s: %v", what, err)
			}
			if f != "h" {
				return f
			}
		}
	}
	if f := next("open frame"); f != frameOpen {
		t.Fatalf("frame %q; want %q", f, frameOpen)
	}
	s.xhrSend(t, base, mwMessage)
	expectEcho(t, next("echo"))
	s.xhrSend(t, base, "close")
	if f := next("close frame"); f != frameGoAway {
		t.Fatalf("frame %q; want %q", f, frameGoAway)
	}
	if b, err := io.ReadAll(br); err != nil || len(b) > 0 {
		t.Fatalf("after the close frame: %q, %v; want the response to end cleanly", b, err)
	}
}

// testPolling drives a polling transport: poll returns one response's
// frame, send delivers a message.
func testPolling(t *testing.T, poll func() string, send func(msg string)) {
	t.Helper()
	if f := poll(); f != frameOpen {
		t.Fatalf("first poll %q; want %q", f, frameOpen)
	}
	send(mwMessage)
	expectEcho(t, poll())
	send("close")
	if f := poll(); f != frameGoAway {
		t.Fatalf("poll %q; want %q", f, frameGoAway)
	}
}

var mwTransports = []struct {
	name string
	ws   bool // a websocket: HTTP/1.1 only
	run  func(t *testing.T, s *mwServer, base string)
}{
	{name: "xhr_streaming", run: func(t *testing.T, s *mwServer, base string) {
		testStream(t, s, base, xhrStreamingEnvelope, true)
	}},
	{name: "eventsource", run: func(t *testing.T, s *mwServer, base string) {
		testStream(t, s, base, eventSourceEnvelope, false)
	}},
	{name: "htmlfile", run: func(t *testing.T, s *mwServer, base string) {
		testStream(t, s, base, htmlfileEnvelope, true)
	}},
	{name: "xhr", run: func(t *testing.T, s *mwServer, base string) {
		testPolling(t, func() string {
			st, b := s.call(t, http.MethodPost, base+"/xhr", "", "")
			f, ok := strings.CutSuffix(b, "\n")
			if st != http.StatusOK || !ok {
				t.Fatalf("xhr: %d %q; want 200 and one frame", st, b)
			}
			return f
		}, func(msg string) { s.xhrSend(t, base, msg) })
	}},
	{name: "jsonp", run: func(t *testing.T, s *mwServer, base string) {
		testPolling(t, func() string {
			st, b := s.call(t, http.MethodGet, base+"/jsonp?c=cb", "", "")
			q, ok := strings.CutPrefix(b, "/**/cb(")
			q, ok2 := strings.CutSuffix(q, ");\r\n")
			var f string
			if st != http.StatusOK || !ok || !ok2 || json.Unmarshal([]byte(q), &f) != nil {
				t.Fatalf("jsonp: %d %q; want 200 and one callback", st, b)
			}
			return f
		}, func(msg string) {
			st, b := s.call(t, http.MethodPost, base+"/jsonp_send", "application/x-www-form-urlencoded", "d="+url.QueryEscape(mwPayload(msg)))
			if st != http.StatusOK || b != "ok" {
				t.Fatalf("jsonp_send: %d %q; want 200 ok", st, b)
			}
		})
	}},
	{name: "websocket", ws: true, run: func(t *testing.T, s *mwServer, base string) {
		ws := dialWS(t, s.srv.Listener.Addr().String(), base+"/websocket", "Accept-Encoding: gzip")
		wsExpect(t, ws, frameOpen)
		wsSend(t, ws, mwPayload(mwMessage))
		expectEcho(t, wsRead(t, ws, ioTimeout))
		wsSend(t, ws, mwPayload("close"))
		wsExpect(t, ws, frameGoAway)
		wsExpectClosed(t, ws, ioTimeout)
	}},
	{name: "raw websocket", ws: true, run: func(t *testing.T, s *mwServer, _ string) {
		ws := dialWS(t, s.srv.Listener.Addr().String(), "/echo/websocket", "Accept-Encoding: gzip")
		wsSend(t, ws, mwMessage)
		wsExpect(t, ws, mwMessage)
		wsSend(t, ws, "close")
		_ = ws.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, m, err := ws.ReadMessage(); !websocket.IsCloseError(err, 3000) {
			t.Fatalf("after close: %q, %v; want close 3000", m, err)
		}
	}},
}

// TestMiddlewareStackTransports drives every transport through chi's
// usual middleware, Compress included, over HTTP/1.1 and (the HTTP
// transports) over TLS and HTTP/2: each opens, echoes and closes cleanly.
// Over HTTP/1.1, Compress offers Hijack but fails it for the content types
// it compresses, which must not break the streaming transports.
func TestMiddlewareStackTransports(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2"}[h2], func(t *testing.T) {
			t.Parallel()
			s := newMWServer(t, h2)
			for _, tc := range mwTransports {
				if tc.ws && h2 {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, s, sessionBase("/echo"))
				})
			}
		})
	}
}
