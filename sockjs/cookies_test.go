package sockjs_test

// Cookies of issue 5 (item 4) over the whole handler: the JSESSIONID
// option (sticky sessions), its Secure form over HTTPS, and CookieFunc,
// per endpoint, over plain HTTP, TLS (httptest.NewTLSServer) and behind a
// TLS proxy (X-Forwarded-Proto: https).
//
// The websocket handshakes carry the cookie in their 101 response, like
// every other transport response.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/examples/testserver/services"
	"github.com/sockline/sockline/sockjs"
)

// cookieServer is a handler at /x with the clients to reach it.
type cookieServer struct {
	base   string // http(s)://host:port/x
	client *http.Client
	dialer *websocket.Dialer
	header []string // header lines sent with every request
}

// newCookieServer serves an echo handler with opts (plus AllowAnyOrigin,
// so that jsonp is served, and the raw websocket) at /x, over TLS if asked.
func newCookieServer(t *testing.T, opts sockjs.Options, useTLS bool, header ...string) *cookieServer {
	t.Helper()
	opts.AllowAnyOrigin, opts.RawWebSocket = true, true
	h := sockjs.NewHandler(opts, services.Echo)
	r := chi.NewRouter()
	r.Mount("/x", h)
	if !useTLS {
		srv := startServer(t, r, h)
		return &cookieServer{base: srv.URL + "/x", client: srv.Client(),
			dialer: &websocket.Dialer{HandshakeTimeout: ioTimeout}, header: header}
	}
	srv := httptest.NewTLSServer(r)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { // before Close: ends streams and websockets
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Handler.Shutdown: %v", err)
		}
	})
	tr := srv.Client().Transport.(*http.Transport)
	return &cookieServer{base: srv.URL + "/x", client: srv.Client(),
		dialer: &websocket.Dialer{HandshakeTimeout: ioTimeout, TLSClientConfig: tr.TLSClientConfig}, header: header}
}

// do sends one request with s.header and hdr and returns its answer, whose
// body it has read.
func (s *cookieServer) do(t *testing.T, method, path, body string, hdr ...string) *response {
	t.Helper()
	return s.request(t, method, path, body, false, hdr...)
}

// request is do; with stream set the body is left unread (it would not
// end) and closed.
func (s *cookieServer) request(t *testing.T, method, path, body string, stream bool, hdr ...string) *response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range slices.Concat(hdr, s.header) {
		k, v, _ := strings.Cut(l, ":")
		req.Header.Add(k, strings.TrimSpace(v))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var b []byte
	if !stream {
		if b, err = io.ReadAll(resp.Body); err != nil {
			t.Fatalf("%s %s: reading the body: %v", method, path, err)
		}
	}
	_ = resp.Body.Close()
	s2 := string(b)
	// c carries t for the response's methods; the body is already read.
	return &response{c: &rawConn{t: t}, what: method + " " + path, Status: resp.StatusCode, Header: resp.Header, body: &s2}
}

// open starts a session with an xhr poll that sends no cookie.
func (s *cookieServer) open(t *testing.T) string {
	t.Helper()
	base := sessionBase("")
	expectBody(t, s.do(t, http.MethodPost, base+"/xhr", ""), http.StatusOK, "o\n")
	return base
}

// cookieProbe is one endpoint: probe sends one request with the header
// lines hdr and returns its answer, whose status it has checked.
type cookieProbe struct {
	name      string
	transport bool // a transport response: the cookie logic runs
	probe     func(t *testing.T, s *cookieServer, hdr []string) *response
}

func cookieRequest(method, suffix, body string, session bool, status int) func(*testing.T, *cookieServer, []string) *response {
	return func(t *testing.T, s *cookieServer, hdr []string) *response {
		path := suffix
		switch {
		case session && body != "":
			path = s.open(t) + suffix // a sender: needs an open session
		case session:
			path = sessionBase("") + suffix
		}
		stream := slices.Contains([]string{"/xhr_streaming", "/eventsource", "/htmlfile?c=cb"}, suffix)
		r := s.request(t, method, path, body, stream, hdr...)
		expectStatus(t, r, status)
		return r
	}
}

func cookieHandshake(session bool) func(*testing.T, *cookieServer, []string) *response {
	return func(t *testing.T, s *cookieServer, hdr []string) *response {
		path := "/websocket"
		if session {
			path = sessionBase("") + path
		}
		url := "ws" + strings.TrimPrefix(s.base, "http") + path
		r := wsHandshake(t, url, s.dialer, slices.Concat(hdr, s.header))
		expectStatus(t, r, http.StatusSwitchingProtocols)
		return r
	}
}

var cookieProbes = []cookieProbe{
	{"xhr", true, cookieRequest(http.MethodPost, "/xhr", "", true, http.StatusOK)},
	{"xhr_send", true, cookieRequest(http.MethodPost, "/xhr_send", `["x"]`, true, http.StatusNoContent)},
	{"xhr_streaming", true, cookieRequest(http.MethodPost, "/xhr_streaming", "", true, http.StatusOK)},
	{"eventsource", true, cookieRequest(http.MethodGet, "/eventsource", "", true, http.StatusOK)},
	{"htmlfile", true, cookieRequest(http.MethodGet, "/htmlfile?c=cb", "", true, http.StatusOK)},
	{"jsonp", true, cookieRequest(http.MethodGet, "/jsonp?c=cb", "", true, http.StatusOK)},
	{"jsonp_send", true, cookieRequest(http.MethodPost, "/jsonp_send", `["x"]`, true, http.StatusOK)},
	{"websocket", true, cookieHandshake(true)},
	{"raw websocket", true, cookieHandshake(false)},
	{"xhr OPTIONS", false, cookieRequest(http.MethodOptions, "/xhr", "", true, http.StatusNoContent)},
	{"info", false, cookieRequest(http.MethodGet, "/info", "", false, http.StatusOK)},
	{"info OPTIONS", false, cookieRequest(http.MethodOptions, "/info", "", false, http.StatusNoContent)},
	{"greeting", false, cookieRequest(http.MethodGet, "", "", false, http.StatusOK)},
	{"iframe page", false, cookieRequest(http.MethodGet, "/iframe.html", "", false, http.StatusOK)},
}

// expectSetCookie checks that r sets exactly one cookie, written
// "name=value; Path=/", with Secure and SameSite=None exactly when secure.
func expectSetCookie(t *testing.T, r *response, name, value string, secure bool) {
	t.Helper()
	raw := single(t, r, "Set-Cookie")
	c, err := http.ParseSetCookie(raw)
	if err != nil || !strings.HasPrefix(raw, name+"="+value+"; Path=/") || c.Name != name || c.Value != value {
		t.Fatalf("%s: Set-Cookie %q (%v); want %s=%s; Path=/", r.what, raw, err, name, value)
	}
	if c.Secure != secure || (c.SameSite == http.SameSiteNoneMode) != secure {
		t.Fatalf("%s: Set-Cookie %q: Secure %v, SameSite %v; want Secure and SameSite=None: %v",
			r.what, raw, c.Secure, c.SameSite, secure)
	}
}

// expectCookieNeeded checks /info's cookie_needed.
func expectCookieNeeded(t *testing.T, s *cookieServer, want bool) {
	t.Helper()
	r := s.do(t, http.MethodGet, "/info", "")
	if got := infoBody(t, r)["cookie_needed"]; got != want {
		t.Fatalf("/info cookie_needed = %v; want %v", got, want)
	}
}

// With JSessionID, every transport response sets JSESSIONID: "dummy", or
// the client's value; Secure and SameSite=None over HTTPS, direct or
// behind a proxy. /info says cookie_needed and, like the preflights, the
// greeting and the iframe page, sets none. The handshakes: see the file
// comment.
func TestJSessionIDCookie(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tls    bool
		header []string
		secure bool
	}{
		{"http", false, nil, false},
		{"https", true, nil, true},
		{"X-Forwarded-Proto https", false, []string{"X-Forwarded-Proto: https"}, true},
		{"X-Forwarded-Proto http", false, []string{"X-Forwarded-Proto: http"}, false},
		// Proxies append themselves; the first element is the client's
		// scheme (found by FuzzIsSecure).
		{"X-Forwarded-Proto https, http", false, []string{"X-Forwarded-Proto: https, http"}, true},
		{"X-Forwarded-Proto http, https", false, []string{"X-Forwarded-Proto: http, https"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newCookieServer(t, sockjs.Options{JSessionID: true}, tc.tls, tc.header...)
			expectCookieNeeded(t, s, true)
			for _, p := range cookieProbes {
				t.Run(p.name, func(t *testing.T) {
					r := p.probe(t, s, nil)
					withCookie := p.probe(t, s, []string{"Cookie: JSESSIONID=abc-123; other=1"})
					if !p.transport {
						expectNoCookie(t, r)
						expectNoCookie(t, withCookie)
						return
					}
					expectSetCookie(t, r, "JSESSIONID", "dummy", tc.secure)
					expectSetCookie(t, withCookie, "JSESSIONID", "abc-123", tc.secure)
				})
			}
		})
	}
}

// Without JSessionID or CookieFunc no response sets a cookie, a client's
// JSESSIONID notwithstanding, and /info says cookie_needed false.
func TestNoCookieByDefault(t *testing.T) {
	t.Parallel()
	s := newCookieServer(t, sockjs.Options{}, false)
	expectCookieNeeded(t, s, false)
	for _, p := range cookieProbes {
		expectNoCookie(t, p.probe(t, s, nil))
		expectNoCookie(t, p.probe(t, s, []string{"Cookie: JSESSIONID=abc"}))
	}
}

// CookieFunc replaces the JSESSIONID logic: it is called once for every
// transport request, the handshakes included (whose 101 does not carry
// what it sets, see the file comment), and for nothing else; what it sets
// is the only cookie; /info says cookie_needed true.
func TestCookieFunc(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := map[string]int{} // by the probe's X-Probe header
	s := newCookieServer(t, sockjs.Options{
		JSessionID: true, // replaced by CookieFunc
		CookieFunc: func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls[r.Header.Get("X-Probe")]++
			mu.Unlock()
			http.SetCookie(w, &http.Cookie{Name: "SERVERID", Value: "s1", Path: "/"})
		},
	}, false)
	expectCookieNeeded(t, s, true)
	for _, p := range cookieProbes {
		t.Run(p.name, func(t *testing.T) {
			r := p.probe(t, s, []string{"Cookie: JSESSIONID=abc", "X-Probe: " + p.name})
			mu.Lock()
			n := calls[p.name]
			mu.Unlock()
			want := 0
			if p.transport {
				want = 1
			}
			if n != want {
				t.Fatalf("%s: CookieFunc called %d times; want %d", r.what, n, want)
			}
			if !p.transport {
				expectNoCookie(t, r)
				return
			}
			expectSetCookie(t, r, "SERVERID", "s1", false)
		})
	}
}
