package sockjs_test

// Per-transport switches of Options, the raw websocket switch, and the
// JSESSIONID cookie on the transports of issue 4 (class JsessionidCookie
// of docs/PROTOCOL-RULES.md).

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/examples/testserver/services"
	"github.com/sockline/sockline/sockjs"
)

// newOptionsFixture serves one echo handler with opts at /x.
func newOptionsFixture(t *testing.T, opts sockjs.Options) *fixture {
	t.Helper()
	h := sockjs.NewHandler(opts, services.Echo)
	r := chi.NewRouter()
	r.Mount("/x", h)
	srv := startServer(t, r, h)
	return &fixture{srv: srv, addr: srv.Listener.Addr().String(), echo: h}
}

// transportProbe opens, or posts to, one transport of a fresh session and
// returns the status. Receiving probes open the session; sending probes
// first open it with a receiver that is known to be on.
type transportProbe struct {
	name  string
	probe func(t *testing.T, f *fixture, base string) int
}

func receiveProbe(method, suffix string) func(*testing.T, *fixture, string) int {
	return func(t *testing.T, f *fixture, base string) int {
		c, r := f.open(t, method, base+suffix, "")
		defer c.Close()
		return r.Status
	}
}

var transportProbes = []transportProbe{
	{"xhr", receiveProbe(http.MethodPost, "/xhr")},
	{"xhr_streaming", receiveProbe(http.MethodPost, "/xhr_streaming")},
	{"eventsource", receiveProbe(http.MethodGet, "/eventsource")},
	{"htmlfile", receiveProbe(http.MethodGet, "/htmlfile?c=cb")},
	{"jsonp", receiveProbe(http.MethodGet, "/jsonp?c=cb")},
	{"websocket", func(t *testing.T, f *fixture, base string) int {
		return wsStatus(t, f, base+"/websocket")
	}},
	{"rawwebsocket", func(t *testing.T, f *fixture, _ string) int {
		return wsStatus(t, f, "/x/websocket")
	}},
}

// wsStatus attempts a websocket handshake and returns its status.
func wsStatus(t *testing.T, f *fixture, path string) int {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+f.addr+path, nil)
	if err == nil {
		conn.Close()
		return resp.StatusCode
	}
	if resp == nil {
		t.Fatalf("websocket %s: %v", path, err)
	}
	return resp.StatusCode
}

// Each Disable switch turns off its transport (404) and nothing else; the
// zero Options leave every transport on (raw websocket aside, which is
// opt-in).
func TestTransportSwitches(t *testing.T) {
	t.Parallel()
	base := sockjs.Options{AllowAnyOrigin: true, RawWebSocket: true}
	switches := map[string]func(*sockjs.Options){
		"":              func(*sockjs.Options) {},
		"xhr":           func(o *sockjs.Options) { o.DisableXHR = true },
		"xhr_streaming": func(o *sockjs.Options) { o.DisableXHRStreaming = true },
		"eventsource":   func(o *sockjs.Options) { o.DisableEventSource = true },
		"htmlfile":      func(o *sockjs.Options) { o.DisableHTMLFile = true },
		"jsonp":         func(o *sockjs.Options) { o.DisableJSONP = true },
		"websocket":     func(o *sockjs.Options) { o.DisableWebSocket = true },
	}
	for off, set := range switches {
		t.Run("off="+off, func(t *testing.T) {
			t.Parallel()
			o := base
			set(&o)
			f := newOptionsFixture(t, o)
			for _, p := range transportProbes {
				want := http.StatusOK
				switch {
				case p.name == off, off == "websocket" && p.name == "rawwebsocket":
					want = http.StatusNotFound
				case strings.Contains(p.name, "websocket"):
					want = http.StatusSwitchingProtocols
				}
				if got := p.probe(t, f, sessionBase("/x")); got != want {
					t.Errorf("%s with %q off: status %d; want %d", p.name, off, got, want)
				}
			}
			info := infoBody(t, f.get(t, "/x/info"))
			if ws := info["websocket"]; ws != (off != "websocket") {
				t.Errorf("/info websocket = %v with %q off", ws, off)
			}
		})
	}
}

// xhr_send serves xhr, xhr_streaming, eventsource and htmlfile: it stays on
// while any of them is, and answers 404 once all are off.
func TestXHRSendFollowsItsTransports(t *testing.T) {
	t.Parallel()
	o := sockjs.Options{AllowAnyOrigin: true, DisableXHR: true, DisableXHRStreaming: true, DisableEventSource: true}
	f := newOptionsFixture(t, o)
	base := sessionBase("/x")
	_, r := f.open(t, http.MethodGet, base+"/htmlfile?c=cb", "")
	expectStatus(t, r, http.StatusOK)
	r.NextChunk()
	r.ExpectChunk(htmlfileChunk(`"o"`))
	expectBody(t, f.post(t, base+"/xhr_send", `["x"]`), http.StatusNoContent, "")

	o.DisableHTMLFile = true
	f = newOptionsFixture(t, o)
	expect404(t, f.post(t, sessionBase("/x")+"/xhr_send", `["x"]`))
}

// Raw websocket is off unless asked for; wrong methods get 405.
func TestRawWebSocketSwitch(t *testing.T) {
	t.Parallel()
	f := newOptionsFixture(t, sockjs.Options{AllowAnyOrigin: true})
	if got := wsStatus(t, f, "/x/websocket"); got != http.StatusNotFound {
		t.Fatalf("raw websocket without Options.RawWebSocket: %d; want 404", got)
	}
	f = newOptionsFixture(t, sockjs.Options{AllowAnyOrigin: true, RawWebSocket: true})
	expect405(t, f.post(t, "/x/websocket", ""))
	expectBodyContains(t, f.get(t, "/x/websocket"), http.StatusBadRequest, `Can "Upgrade" only to "WebSocket".`)
}

// cookieFixture serves /cookie_needed_echo as examples/testserver does. It
// skips the test while the handler has no JSESSIONID support.
func cookieFixture(t *testing.T) *fixture {
	t.Helper()
	mux, shutdown := services.New(services.Config{})
	srv := startServer(t, mux)
	t.Cleanup(func() { _ = shutdown(t.Context()) })
	f := &fixture{srv: srv, addr: srv.Listener.Addr().String()}
	if infoBody(t, f.get(t, "/cookie_needed_echo/info"))["cookie_needed"] != true {
		t.Skip("cookies: issue 5")
	}
	return f
}

// expectCookie is H-COOKIE with the value the client should get back.
func expectCookie(t *testing.T, r *response, value string) {
	t.Helper()
	c := single(t, r, "Set-Cookie")
	parts := strings.Split(c, ";")
	if len(parts) < 2 || strings.TrimSpace(parts[0]) != "JSESSIONID="+value || strings.ToLower(strings.TrimSpace(parts[1])) != "path=/" {
		t.Fatalf("%s: Set-Cookie %q; want JSESSIONID=%s; path=/", r.what, c, value)
	}
}

// R-COOKIE-5, R-COOKIE-6, R-COOKIE-7: eventsource, htmlfile, jsonp and
// jsonp_send set the cookie; the iframe page never does.
func TestCookiesOnOtherTransports(t *testing.T) {
	t.Parallel()
	f := cookieFixture(t)
	base := sessionBase("/cookie_needed_echo")
	_, r := f.open(t, http.MethodGet, base+"/eventsource", "")
	expectStatus(t, r, http.StatusOK)
	expectCookie(t, r, "dummy")

	_, r = f.open(t, http.MethodGet, sessionBase("/cookie_needed_echo")+"/htmlfile?c=%63allback", "")
	expectStatus(t, r, http.StatusOK)
	expectCookie(t, r, "dummy")

	base = sessionBase("/cookie_needed_echo")
	r = f.get(t, base+"/jsonp?c=%63allback")
	expectBody(t, r, http.StatusOK, jsonpBody("callback", `"o"`))
	expectCookie(t, r, "dummy")
	r = f.post(t, base+"/jsonp_send", "d=%5B%22x%22%5D", formType, "Cookie: JSESSIONID=abcdef")
	expectBody(t, r, http.StatusOK, "ok")
	expectCookie(t, r, "abcdef")

	r = f.get(t, "/cookie_needed_echo/iframe.html")
	expectStatus(t, r, http.StatusOK)
	expectNoCookie(t, r)
}
