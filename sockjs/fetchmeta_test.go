package sockjs_test

// Cross-site session creation without Origin (issue 9, item 2): a page of
// another site makes the victim's browser load a session URL by
// navigation, <iframe>, <img> or <script>. No Origin is sent, so the
// origin policy cannot see it, but Sec-Fetch-Site says "cross-site" (or
// "same-site"). Every session endpoint must then answer 403 before any
// session exists or any message is delivered, unless AllowAnyOrigin (or
// AllowJSONP, for jsonp). Requests without fetch metadata (programs, old
// browsers) keep working. cors/fetchmeta_test.go tests the rule alone.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/session"
	"github.com/sockline/sockline/sockjs"
)

// fetchFixture is a handler mounted at /x whose application counts the
// sessions it runs and reports each session's first message.
type fetchFixture struct {
	*fixture
	h       *sockjs.Handler
	reg     *session.Memory
	started atomic.Int64 // application handlers run

	mu    sync.Mutex
	first map[string]chan string // session id -> its first message
}

func newFetchFixture(t *testing.T, opts sockjs.Options) *fetchFixture {
	t.Helper()
	ff := &fetchFixture{reg: session.NewMemory(), first: make(map[string]chan string)}
	opts.Registry = ff.reg
	opts.DisconnectDelay = time.Minute // nothing expires while a case runs
	ff.h = sockjs.NewHandler(opts, func(ctx context.Context, s *sockjs.Session) {
		ff.started.Add(1)
		msg, err := s.Recv(ctx)
		if err != nil {
			return
		}
		ff.firstOf(s.ID()) <- msg
		<-ctx.Done()
	})
	r := chi.NewRouter()
	r.Mount("/x", ff.h)
	srv := startServer(t, r, ff.h)
	ff.fixture = &fixture{srv: srv, addr: srv.Listener.Addr().String(), echo: ff.h}
	return ff
}

// firstOf returns the channel that carries session id's first message.
func (ff *fetchFixture) firstOf(id string) chan string {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	ch, ok := ff.first[id]
	if !ok {
		ch = make(chan string, 1)
		ff.first[id] = ch
	}
	return ch
}

// fetchEndpoint is one session endpoint of the matrix.
type fetchEndpoint struct {
	name    string
	jsonp   bool
	creates bool // opens a session when allowed
	sends   bool // delivers the message "probe" when allowed
	status  int  // when allowed
	// do sends the request under test, for the session id sid, with the
	// header lines hdr, and returns the answer's head (body read unless
	// streaming).
	do func(t *testing.T, ff *fetchFixture, sid string, hdr []string) *response
}

func streamHead(method, transport string) func(*testing.T, *fetchFixture, string, []string) *response {
	return func(t *testing.T, ff *fetchFixture, sid string, hdr []string) *response {
		c, r := ff.open(t, method, "/x/000/"+sid+"/"+transport, "", hdr...)
		if r.Status != http.StatusOK {
			r.Body()
		}
		c.Close()
		return r
	}
}

func sendTo(transport string, extra ...string) func(*testing.T, *fetchFixture, string, []string) *response {
	return func(t *testing.T, ff *fetchFixture, sid string, hdr []string) *response {
		return ff.post(t, "/x/000/"+sid+"/"+transport, `["probe"]`, slices.Concat(hdr, extra)...)
	}
}

func fetchDialWS(raw bool) func(*testing.T, *fetchFixture, string, []string) *response {
	return func(t *testing.T, ff *fetchFixture, sid string, hdr []string) *response {
		path := "/x/000/" + sid + "/websocket"
		if raw {
			path = "/x/websocket"
		}
		h := http.Header{}
		for _, l := range hdr {
			k, v, _ := strings.Cut(l, ":")
			h.Add(k, strings.TrimSpace(v))
		}
		d := &websocket.Dialer{HandshakeTimeout: ioTimeout}
		conn, resp, err := d.Dial("ws://"+ff.addr+path, h)
		switch {
		case err == nil:
			_ = conn.Close()
			return &response{c: &rawConn{t: t}, what: "websocket " + path, Status: resp.StatusCode, Header: resp.Header}
		case resp == nil || !errors.Is(err, websocket.ErrBadHandshake):
			t.Fatalf("websocket %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("websocket %s: reading the refusal: %v", path, err)
		}
		body := string(b)
		return &response{c: &rawConn{t: t}, what: "websocket " + path, Status: resp.StatusCode, Header: resp.Header, body: &body}
	}
}

var fetchEndpoints = []fetchEndpoint{
	{"xhr", false, true, false, http.StatusOK, streamHead(http.MethodPost, "xhr")},
	{"xhr_streaming", false, true, false, http.StatusOK, streamHead(http.MethodPost, "xhr_streaming")},
	{"eventsource", false, true, false, http.StatusOK, streamHead(http.MethodGet, "eventsource")},
	{"htmlfile", false, true, false, http.StatusOK, streamHead(http.MethodGet, "htmlfile?c=cb")},
	{"jsonp", true, true, false, http.StatusOK, streamHead(http.MethodGet, "jsonp?c=cb")},
	{"websocket", false, true, false, http.StatusSwitchingProtocols, fetchDialWS(false)},
	{"raw websocket", false, true, false, http.StatusSwitchingProtocols, fetchDialWS(true)},
	{"xhr_send", false, false, true, http.StatusNoContent, sendTo("xhr_send")},
	{"jsonp_send", true, false, true, http.StatusOK, sendTo("jsonp_send", "Content-Type: text/plain")},
	{"xhr OPTIONS", false, false, false, http.StatusNoContent, func(t *testing.T, ff *fetchFixture, sid string, hdr []string) *response {
		return ff.do(t, http.MethodOptions, "/x/000/"+sid+"/xhr", "", append(hdr, "Access-Control-Request-Method: POST")...)
	}},
}

// fetchPolicies are the configurations of the matrix.
var fetchPolicies = []struct {
	name       string
	opts       sockjs.Options
	restricted bool // the fetch-metadata rule applies
}{
	{"restricted", listed(nil), true},
	{"AllowJSONP", listed(func(o *sockjs.Options) { o.AllowJSONP = true }), true},
	{"AllowAnyOrigin", sockjs.Options{AllowAnyOrigin: true, RawWebSocket: true}, false},
}

// fetchSites are the Sec-Fetch-Site values sent ("" is none).
var fetchSites = []string{"", "same-origin", "same-site", "cross-site", "none"}

// Every session endpoint × Sec-Fetch-Site × Origin present or not × policy.
// A refused request gets 403 and leaves no trace: the handler holds no more
// sessions (Handler.Len and the registry's Len unchanged), no application
// handler runs, and a refused send delivers nothing (the session's first
// message is the one sent after it). An allowed one opens its session and
// runs the application, or delivers its message.
func TestFetchMetadataPerEndpoint(t *testing.T) {
	t.Parallel()
	for _, pol := range fetchPolicies {
		t.Run(pol.name, func(t *testing.T) {
			t.Parallel()
			for _, ep := range fetchEndpoints {
				t.Run(ep.name, func(t *testing.T) {
					t.Parallel()
					ff := newFetchFixture(t, pol.opts)
					var wantStarted int64
					for _, site := range fetchSites {
						for _, withOrigin := range []bool{false, true} {
							wantStarted += checkFetchCase(t, ff, pol.restricted, pol.opts.AllowJSONP, ep, site, withOrigin)
						}
					}
					eventually(t, "application handlers started", func() bool { return ff.started.Load() >= wantStarted })
					if got := ff.started.Load(); got != wantStarted {
						t.Fatalf("%d application handlers ran; want %d (one per session opened)", got, wantStarted)
					}
				})
			}
		})
	}
}

// checkFetchCase runs one cell of the matrix and returns how many
// application handlers it started.
func checkFetchCase(t *testing.T, ff *fetchFixture, restricted, allowJSONP bool, ep fetchEndpoint, site string, withOrigin bool) int64 {
	t.Helper()
	var hdr []string
	if site != "" {
		hdr = append(hdr, "Sec-Fetch-Site: "+site)
	}
	if withOrigin {
		hdr = append(hdr, "Origin: "+exactOrigin) // listed: the origin policy allows it
	}
	what := ep.name + ", Sec-Fetch-Site " + site + ", Origin " + map[bool]string{false: "absent", true: exactOrigin}[withOrigin]

	want, wantBody := ep.status, ""
	switch {
	case ep.jsonp && restricted && !allowJSONP:
		want, wantBody = http.StatusForbidden, "JSONP not allowed." // refused whatever the fetch metadata
	case restricted && !withOrigin && (site == "cross-site" || site == "same-site") && !(ep.jsonp && allowJSONP):
		want, wantBody = http.StatusForbidden, "Cross-site request without Origin not allowed."
	}

	sid := newSID()
	var started int64
	if ep.sends { // open the session with a request every policy allows
		expectBody(t, ff.post(t, "/x/000/"+sid+"/xhr", ""), http.StatusOK, "o\n")
		started++
	}
	lenBefore, regBefore := ff.h.Len(), ff.reg.Len()
	r := ep.do(t, ff, sid, hdr)
	if r.Status != want {
		t.Fatalf("%s: status %d; want %d", what, r.Status, want)
	}
	if want == http.StatusForbidden {
		if body := r.Body(); strings.TrimSpace(body) != wantBody {
			t.Fatalf("%s: 403 body %q; want %q", what, body, wantBody)
		}
		if n, m := ff.h.Len(), ff.reg.Len(); n != lenBefore || m != regBefore {
			t.Fatalf("%s: refused, yet Handler.Len %d -> %d, registry Len %d -> %d", what, lenBefore, n, regBefore, m)
		}
	} else if ep.creates {
		eventually(t, what+": session opened", func() bool { return ff.h.Len() == lenBefore+1 })
		started++
	}
	if ep.sends {
		// A later allowed send tells whether the one under test delivered.
		expectStatus(t, ff.post(t, "/x/000/"+sid+"/xhr_send", `["after"]`), http.StatusNoContent)
		wantFirst := "probe"
		if want != ep.status {
			wantFirst = "after"
		}
		select {
		case got := <-ff.firstOf(sid):
			if got != wantFirst {
				t.Fatalf("%s: the application's first message is %q; want %q", what, got, wantFirst)
			}
		case <-time.After(ioTimeout):
			t.Fatalf("%s: no message reached the application in %v", what, ioTimeout)
		}
	}
	return started
}

// eventually polls cond every few milliseconds until it holds, failing
// after ioTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", ioTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The attack of issue 9 with the zero Options: a page of another site
// frames the htmlfile URL of a session id it chose (the victim's browser
// sends the victim's cookies and fetch metadata, no Origin), then drives
// the session from its own server with xhr_send. The frame is refused and
// the attacker's send finds no session.
func TestCrossSiteSessionCreationRefused(t *testing.T) {
	t.Parallel()
	ff := newFetchFixture(t, sockjs.Options{})
	sid := newSID()
	r := ff.get(t, "/x/000/"+sid+"/htmlfile?c=cb",
		"Cookie: app_session=victim",
		"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: iframe")
	expectStatus(t, r, http.StatusForbidden)
	expectHeader(t, r, "Vary", "Sec-Fetch-Site")
	expectNoCookie(t, r)
	expectStatus(t, ff.post(t, "/x/000/"+sid+"/xhr_send", `["as the victim"]`), http.StatusNotFound)
	if n := ff.h.Len(); n != 0 {
		t.Fatalf("the handler holds %d sessions; want 0", n)
	}
	if n := ff.started.Load(); n != 0 {
		t.Fatalf("%d application handlers ran; want 0", n)
	}
}

// A fetch-metadata refusal is reported to Options.Events as a refused
// origin, once per refused request; allowed requests are not.
func TestFetchMetadataRefusalEvent(t *testing.T) {
	t.Parallel()
	ev := &countingEvents{}
	ff := newFetchFixture(t, sockjs.Options{Events: ev})
	expectStatus(t, ff.post(t, "/x/000/"+newSID()+"/xhr", "", "Sec-Fetch-Site: cross-site"), http.StatusForbidden)
	expectStatus(t, ff.post(t, "/x/000/"+newSID()+"/xhr", "", "Sec-Fetch-Site: same-origin"), http.StatusOK)
	if got := ev.get("origin refused"); got != 1 {
		t.Fatalf("Events.OriginRefused told %d times; want 1", got)
	}
}

// As deployed: browsers send fetch metadata only over HTTPS (and to
// localhost), so the rule is checked over TLS with HTTP/2, the protocol
// Go's server speaks to browsers there. A cross-site eventsource GET without
// Origin is refused before any session exists; the same from the page's
// own origin (same-origin), and from a program (no fetch metadata), opens
// its session.
func TestFetchMetadataOverHTTP2(t *testing.T) {
	t.Parallel()
	var started atomic.Int64
	// a long DisconnectDelay: the cut streams' sessions stay counted
	h := sockjs.NewHandler(sockjs.Options{DisconnectDelay: time.Minute}, func(ctx context.Context, _ *sockjs.Session) {
		started.Add(1)
		<-ctx.Done()
	})
	srv := httptest.NewUnstartedServer(http.StripPrefix("/x", h))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Handler.Shutdown: %v", err)
		}
		srv.Close()
	})
	client := srv.Client()
	for _, tc := range []struct {
		site     string
		want     int
		sessions int // held by the handler afterwards
	}{
		{"cross-site", http.StatusForbidden, 0},
		{"same-site", http.StatusForbidden, 0},
		{"same-origin", http.StatusOK, 1},
		{"", http.StatusOK, 2},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x/000/"+newSID()+"/eventsource", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("Sec-Fetch-Site %q: %v", tc.site, err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("answered over %s; want HTTP/2", resp.Proto)
		}
		if resp.StatusCode != tc.want {
			t.Fatalf("Sec-Fetch-Site %q over HTTP/2: status %d; want %d", tc.site, resp.StatusCode, tc.want)
		}
		_ = resp.Body.Close()
		cancel()
		if n := h.Len(); n != tc.sessions {
			t.Fatalf("Sec-Fetch-Site %q: the handler holds %d sessions; want %d", tc.site, n, tc.sessions)
		}
	}
	eventually(t, "two application handlers", func() bool { return started.Load() == 2 })
}
