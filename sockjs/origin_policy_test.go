package sockjs_test

// The origin policy of issue 5 (item 3) over the whole handler: every
// endpoint × every origin case × the policy options, over real HTTP and
// real websocket handshakes. package cors tests the policy alone; these
// tests check that every route goes through it.
//
// The iframe page is the one endpoint that refuses no origin, on purpose
// (routes.go, cors/doc.go, README "Origins"): browsers send no Origin when
// they load a frame, and the page's own requests are same-origin, so what
// protects it is Content-Security-Policy frame-ancestors, tested below.

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockline/sockline/sockjs"
)

// The origins of the matrix (.test is reserved, RFC 2606).
const (
	exactOrigin   = "http://app.example.test:8080" // in AllowedOrigins
	originPattern = "http://*.example.test"        // in AllowedOriginPatterns
	patternOrigin = "http://chat.example.test"     // matches originPattern
	foreignOrigin = "http://evil.example.org"      // listed nowhere
)

// originCase is one Origin a client may send ("" is none). The same
// origin is the test server's own, http://host:port.
type originCase struct {
	name   string
	origin func(f *fixture) string
}

func fixed(o string) func(*fixture) string { return func(*fixture) string { return o } }

var originCases = []originCase{
	{"none", fixed("")},
	{"same", func(f *fixture) string { return "http://" + f.addr }},
	{"exact", fixed(exactOrigin)},
	{"pattern", fixed(patternOrigin)},
	{"foreign", fixed(foreignOrigin)},
	{"null", fixed("null")},
}

// policyConfig is one set of origin options and what it must lead to.
type policyConfig struct {
	name    string
	opts    sockjs.Options
	refused []string // origin cases answered 403 (websocket: handshake refused)
	// jsonp is the status of jsonp and jsonp_send whatever the origin:
	// 403 while origins are restricted without AllowJSONP, 404 with
	// DisableJSONP; 0 when the origin policy decides as for the others.
	jsonp int
	// cors: Access-Control-* headers are written (all but DisableCORS).
	cors bool
	// frameAncestors is the iframe page's Content-Security-Policy ("" none).
	frameAncestors string
}

// listed returns Options allowing exactOrigin and originPattern, with the
// raw websocket on so that its handshake is in the matrix.
func listed(mod func(*sockjs.Options)) sockjs.Options {
	o := sockjs.Options{
		AllowedOrigins:        []string{exactOrigin},
		AllowedOriginPatterns: []string{originPattern},
		RawWebSocket:          true,
	}
	if mod != nil {
		mod(&o)
	}
	return o
}

const listedAncestors = "frame-ancestors 'self' " + exactOrigin + " " + originPattern

var policyConfigs = []policyConfig{
	{"restricted", listed(nil), []string{"foreign", "null"}, http.StatusForbidden, true, listedAncestors},
	{"AllowNullOrigin", listed(func(o *sockjs.Options) { o.AllowNullOrigin = true }),
		[]string{"foreign"}, http.StatusForbidden, true, listedAncestors},
	{"AllowJSONP", listed(func(o *sockjs.Options) { o.AllowJSONP = true }),
		[]string{"foreign", "null"}, 0, true, listedAncestors},
	{"DisableJSONP", listed(func(o *sockjs.Options) { o.AllowJSONP, o.DisableJSONP = true, true }),
		[]string{"foreign", "null"}, http.StatusNotFound, true, listedAncestors},
	{"AllowAnyOrigin", sockjs.Options{AllowAnyOrigin: true, RawWebSocket: true}, nil, 0, true, "frame-ancestors *"},
	{"DisableCORS", listed(func(o *sockjs.Options) { o.DisableCORS = true }), nil, 0, false, ""},
}

type endpointKind int

const (
	kindPlain     endpointKind = iota
	kindPreflight              // OPTIONS: 204 and the preflight headers
	kindJSONP                  // jsonp, jsonp_send: see policyConfig.jsonp
	kindWebSocket              // a handshake: gorilla writes its own 101, without CORS headers
)

// endpoint is one column of the matrix: do sends one request carrying
// the given Origin header lines and returns the answer's head.
type endpoint struct {
	name    string
	kind    endpointKind
	status  int    // when allowed
	methods string // preflight: Access-Control-Allow-Methods
	do      func(t *testing.T, f *fixture, hdr []string) *response
}

// headOnly sends a request to a fresh session's transport and reads only
// the head: streaming responses do not end by themselves.
func headOnly(method, suffix string) func(*testing.T, *fixture, []string) *response {
	return func(t *testing.T, f *fixture, hdr []string) *response {
		c, r := f.open(t, method, sessionBase("/x")+suffix, "", hdr...)
		c.Close()
		return r
	}
}

// toOpenSession posts to an endpoint that needs a session, after opening
// one with an xhr poll that carries no Origin (allowed by every policy).
func toOpenSession(suffix, body string, extra ...string) func(*testing.T, *fixture, []string) *response {
	return func(t *testing.T, f *fixture, hdr []string) *response {
		base := sessionBase("/x")
		expectBody(t, f.post(t, base+"/xhr", ""), http.StatusOK, "o\n")
		return f.post(t, base+suffix, body, slices.Concat(hdr, extra)...)
	}
}

// preflightTo sends a CORS preflight to path (under a fresh session).
func preflightTo(path string, session bool) func(*testing.T, *fixture, []string) *response {
	return func(t *testing.T, f *fixture, hdr []string) *response {
		p := "/x" + path
		if session {
			p = sessionBase("/x") + path
		}
		return f.do(t, http.MethodOptions, p, "", slices.Concat(hdr, []string{
			"Access-Control-Request-Method: POST",
			"Access-Control-Request-Headers: content-type, x-requested-with",
		})...)
	}
}

func get(path string) func(*testing.T, *fixture, []string) *response {
	return func(t *testing.T, f *fixture, hdr []string) *response { return f.get(t, path, hdr...) }
}

// handshakeTo dials a websocket with gorilla's Dialer.
func handshakeTo(session bool) func(*testing.T, *fixture, []string) *response {
	return func(t *testing.T, f *fixture, hdr []string) *response {
		path := "/x/websocket"
		if session {
			path = sessionBase("/x") + "/websocket"
		}
		return wsHandshake(t, "ws://"+f.addr+path, &websocket.Dialer{HandshakeTimeout: ioTimeout}, hdr)
	}
}

var endpoints = []endpoint{
	{"greeting", kindPlain, http.StatusOK, "", get("/x")},
	{"info", kindPlain, http.StatusOK, "", get("/x/info")},
	{"info OPTIONS", kindPreflight, http.StatusNoContent, "OPTIONS, GET", preflightTo("/info", false)},
	{"xhr", kindPlain, http.StatusOK, "", headOnly(http.MethodPost, "/xhr")},
	{"xhr OPTIONS", kindPreflight, http.StatusNoContent, "OPTIONS, POST", preflightTo("/xhr", true)},
	{"xhr_send", kindPlain, http.StatusNoContent, "", toOpenSession("/xhr_send", `["x"]`)},
	{"xhr_send OPTIONS", kindPreflight, http.StatusNoContent, "OPTIONS, POST", preflightTo("/xhr_send", true)},
	{"xhr_streaming", kindPlain, http.StatusOK, "", headOnly(http.MethodPost, "/xhr_streaming")},
	{"xhr_streaming OPTIONS", kindPreflight, http.StatusNoContent, "OPTIONS, POST", preflightTo("/xhr_streaming", true)},
	{"eventsource", kindPlain, http.StatusOK, "", headOnly(http.MethodGet, "/eventsource")},
	{"htmlfile", kindPlain, http.StatusOK, "", headOnly(http.MethodGet, "/htmlfile?c=cb")},
	{"jsonp", kindJSONP, http.StatusOK, "", headOnly(http.MethodGet, "/jsonp?c=cb")},
	{"jsonp_send", kindJSONP, http.StatusOK, "", toOpenSession("/jsonp_send", `["x"]`, "Content-Type: text/plain")},
	{"websocket", kindWebSocket, http.StatusSwitchingProtocols, "", handshakeTo(true)},
	{"raw websocket", kindWebSocket, http.StatusSwitchingProtocols, "", handshakeTo(false)},
}

// wsHandshake dials url with d, sending the header lines hdr, and returns
// the handshake's answer: the 101, or the refusal (the Dial fails with
// websocket.ErrBadHandshake and the response).
func wsHandshake(t *testing.T, url string, d *websocket.Dialer, hdr []string) *response {
	t.Helper()
	h := http.Header{}
	for _, l := range hdr {
		k, v, _ := strings.Cut(l, ":")
		h.Add(k, strings.TrimSpace(v))
	}
	what := "websocket handshake " + url
	conn, resp, err := d.Dial(url, h)
	switch {
	case err == nil:
		_ = conn.Close()
	case resp == nil || !errors.Is(err, websocket.ErrBadHandshake):
		t.Fatalf("%s: %v", what, err)
	default:
		_ = resp.Body.Close()
	}
	return &response{c: &rawConn{t: t}, what: what, Status: resp.StatusCode, Header: resp.Header}
}

func originHeader(origin string) []string {
	if origin == "" {
		return nil
	}
	return []string{"Origin: " + origin}
}

// Every endpoint, for every origin case under every policy: an allowed
// request gets its own origin back with credentials and Vary: Origin ("*"
// and no credentials without an Origin; "null" for null, never "*"); a
// refused one gets 403, or a refused handshake; preflights answer 204 with
// the methods, the echoed request headers and a year of caching; jsonp is
// 403 while origins are restricted unless AllowJSONP, 404 with
// DisableJSONP; DisableCORS writes no Access-Control-* header and refuses
// nothing.
func TestOriginPolicyPerEndpoint(t *testing.T) {
	t.Parallel()
	for _, cfg := range policyConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			f := newOptionsFixture(t, cfg.opts)
			for _, oc := range originCases {
				t.Run(oc.name, func(t *testing.T) {
					t.Parallel()
					origin := oc.origin(f)
					for _, ep := range endpoints {
						t.Run(ep.name, func(t *testing.T) {
							checkEndpoint(t, f, cfg, ep, slices.Contains(cfg.refused, oc.name), origin)
						})
					}
				})
			}
		})
	}
}

// checkEndpoint sends one request and checks the answer against the matrix.
func checkEndpoint(t *testing.T, f *fixture, cfg policyConfig, ep endpoint, refused bool, origin string) {
	t.Helper()
	want := ep.status
	switch {
	case ep.kind == kindJSONP && cfg.jsonp != 0:
		want = cfg.jsonp
	case refused:
		want = http.StatusForbidden
	}
	r := ep.do(t, f, originHeader(origin))
	expectStatus(t, r, want)
	switch {
	case want == http.StatusNotFound:
	case want == http.StatusForbidden:
		expectNoHeader(t, r, "Access-Control-Allow-Origin")
		expectNoHeader(t, r, "Access-Control-Allow-Credentials")
	case !cfg.cors:
		expectNoCORSHeaders(t, r)
		if ep.kind == kindPreflight {
			expectPreflightCaching(t, r)
		}
	case ep.kind == kindWebSocket:
		// Browsers apply no CORS to websockets: the Origin check above is
		// the whole protection, and the 101 carries no CORS headers.
	default:
		expectCORS(t, r, origin)
		expectVaryOrigin(t, r)
		if ep.kind == kindPreflight {
			expectHeader(t, r, "Access-Control-Allow-Methods", ep.methods)
			expectHeader(t, r, "Access-Control-Allow-Headers", "content-type, x-requested-with")
			expectHeader(t, r, "Access-Control-Max-Age", "31536000")
			expectPreflightCaching(t, r)
		}
	}
}

// expectVaryOrigin checks that Vary names Origin, so that caches keep the
// answers for different origins apart.
func expectVaryOrigin(t *testing.T, r *response) {
	t.Helper()
	for _, v := range r.Header.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Origin") {
				return
			}
		}
	}
	t.Fatalf("%s: Vary %q does not name Origin", r.what, r.Header.Values("Vary"))
}

// expectNoCORSHeaders checks DisableCORS: no Access-Control-* header and
// no Vary: Origin.
func expectNoCORSHeaders(t *testing.T, r *response) {
	t.Helper()
	for k, v := range r.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Fatalf("%s: %s: %q with DisableCORS; want no Access-Control-* header", r.what, k, v)
		}
	}
	if strings.Contains(strings.ToLower(strings.Join(r.Header.Values("Vary"), ",")), "origin") {
		t.Fatalf("%s: Vary %q with DisableCORS", r.what, r.Header.Values("Vary"))
	}
}

// expectPreflightCaching checks the one-year caching of a preflight answer.
func expectPreflightCaching(t *testing.T, r *response) {
	t.Helper()
	expectHeader(t, r, "Cache-Control", "public, max-age=31536000")
	exp, err := http.ParseTime(single(t, r, "Expires"))
	const year = 365 * 24 * time.Hour
	if d := time.Until(exp); err != nil || d < year-time.Hour || d > year+time.Hour {
		t.Fatalf("%s: Expires %q (%v); want a year ahead", r.what, r.Header.Get("Expires"), err)
	}
}

// The iframe page is served to every origin (see the file comment); which
// pages may frame it is Content-Security-Policy frame-ancestors: 'self'
// and the allowed origins and patterns, "*" with AllowAnyOrigin, nothing
// with DisableCORS (the application decides). It never carries CORS
// headers or a cookie.
func TestOriginPolicyIframePage(t *testing.T) {
	t.Parallel()
	for _, cfg := range policyConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			f := newOptionsFixture(t, cfg.opts)
			for _, oc := range originCases {
				r := f.get(t, "/x/iframe.html", originHeader(oc.origin(f))...)
				expectStatus(t, r, http.StatusOK)
				if cfg.frameAncestors == "" {
					expectNoHeader(t, r, "Content-Security-Policy")
				} else {
					expectHeader(t, r, "Content-Security-Policy", cfg.frameAncestors)
				}
				expectNoHeader(t, r, "Access-Control-Allow-Origin")
				expectNoHeader(t, r, "Access-Control-Allow-Credentials")
				expectNoCookie(t, r)
			}
		})
	}
}
