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
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

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
