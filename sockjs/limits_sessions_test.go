package sockjs_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sockline/sockline/sockjs"
)

// creator opens a new session through one transport. It returns the
// status of the creating request (101 for an accepted websocket), the
// Retry-After of a refusal, and a function that ends the client's side.
type creator struct {
	name   string
	create func(t *testing.T, srv *httptest.Server, sid string, hdr http.Header) (status int, retryAfter string, end func())
}

// httpCreator opens a session with one request; streaming responses stay
// open until end. A polling request returns at once, so a second poll is
// left waiting, as a client's would be, to keep the session from expiring.
func httpCreator(name, method, suffix string, polling bool) creator {
	return creator{name, func(t *testing.T, srv *httptest.Server, sid string, hdr http.Header) (int, string, func()) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		do := func() (*http.Response, error) {
			req, _ := http.NewRequestWithContext(ctx, method, srv.URL+"/x/0/"+sid+"/"+suffix, nil)
			for k, v := range hdr {
				req.Header[k] = v
			}
			return srv.Client().Do(req)
		}
		resp, err := do()
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", name, err)
		}
		if !polling || resp.StatusCode != http.StatusOK {
			return resp.StatusCode, resp.Header.Get("Retry-After"), func() { resp.Body.Close(); cancel() }
		}
		resp.Body.Close()
		waiting := make(chan struct{})
		go func() {
			defer close(waiting)
			if resp, err := do(); err == nil {
				resp.Body.Close()
			}
		}()
		return resp.StatusCode, "", func() { cancel(); <-waiting }
	}}
}

// wsCreator opens a session with a websocket handshake.
func wsCreator(name string, raw bool) creator {
	return creator{name, func(t *testing.T, srv *httptest.Server, sid string, hdr http.Header) (int, string, func()) {
		t.Helper()
		u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/x/0/" + sid + "/websocket"
		if raw {
			u = "ws" + strings.TrimPrefix(srv.URL, "http") + "/x/websocket"
		}
		ws, resp, err := websocket.DefaultDialer.Dial(u, hdr)
		if err != nil && !errors.Is(err, websocket.ErrBadHandshake) {
			t.Fatalf("%s: %v", name, err)
		}
		if resp == nil {
			t.Fatalf("%s: no response", name)
		}
		resp.Body.Close()
		end := func() {}
		if ws != nil {
			end = func() { ws.Close() }
		}
		return resp.StatusCode, resp.Header.Get("Retry-After"), end
	}}
}

// creators: every way to create a session.
var creators = []creator{
	httpCreator("xhr", http.MethodPost, "xhr", true),
	httpCreator("xhr_streaming", http.MethodPost, "xhr_streaming", false),
	httpCreator("eventsource", http.MethodGet, "eventsource", false),
	httpCreator("htmlfile", http.MethodGet, "htmlfile?c=cb", false),
	httpCreator("jsonp", http.MethodGet, "jsonp?c=cb", true),
	wsCreator("websocket", false),
	wsCreator("rawwebsocket", true),
}

// okStatus is the status of a creating request that was let in.
func okStatus(c creator) int {
	if strings.Contains(c.name, "websocket") {
		return http.StatusSwitchingProtocols
	}
	return http.StatusOK
}

// limitServer serves an application that keeps its sessions open, with o
// (DisconnectDelay 1 s unless set), and returns the handler to count its
// sessions.
func limitServer(t *testing.T, o sockjs.Options) (*httptest.Server, *sockjs.Handler) {
	t.Helper()
	o.AllowJSONP = true
	o.RawWebSocket = true
	if o.DisconnectDelay == 0 {
		o.DisconnectDelay = time.Second
	}
	h := sockjs.NewHandler(o, func(ctx context.Context, s *sockjs.Session) { <-ctx.Done() })
	srv := httptest.NewServer(http.StripPrefix("/x", h))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return srv, h
}

func xff(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

// Every transport that creates sessions respects MaxSessions and
// MaxSessionsPerClient: past them it answers 503 with Retry-After, sessions
// of every transport count together, and once a session is forgotten its
// place is free again.
func TestSessionLimitsEveryTransport(t *testing.T) {
	t.Parallel()
	trustLoopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	limits := []struct {
		name string
		opts sockjs.Options
		// other is a request header that makes another client, which the
		// limit lets in; nil when the limit is for everyone.
		other http.Header
	}{
		{"MaxSessions", sockjs.Options{MaxSessions: 1}, nil},
		{"MaxSessionsPerClient", sockjs.Options{MaxSessionsPerClient: 1, TrustedProxies: trustLoopback}, xff("203.0.113.7")},
	}
	for _, lim := range limits {
		for _, c := range creators {
			t.Run(lim.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				srv, h := limitServer(t, lim.opts)
				status, _, end := c.create(t, srv, newSID(), nil)
				if status != okStatus(c) {
					t.Fatalf("first session: %d", status)
				}
				for _, again := range []creator{c, creators[0]} { // the same transport, and xhr
					status, retry, end2 := again.create(t, srv, newSID(), nil)
					end2()
					if status != http.StatusServiceUnavailable || retry != "1" {
						t.Fatalf("%s past the limit: %d, Retry-After %q; want 503 with Retry-After 1", again.name, status, retry)
					}
				}
				pollUntil(t, "one session", func() bool { return h.Len() == 1 }) // a websocket's may come after the 101
				if lim.other != nil {
					status, _, end3 := c.create(t, srv, newSID(), lim.other)
					end3()
					if status != okStatus(c) {
						t.Fatalf("another client: %d, want it let in", status)
					}
					pollUntil(t, "the other client's session to be forgotten", func() bool { return h.Len() == 1 })
				}
				end() // the session closes (or expires) and is forgotten
				pollUntil(t, "the session to be forgotten", func() bool { return h.Len() == 0 })
				status, _, end = c.create(t, srv, newSID(), nil)
				end()
				if status != okStatus(c) {
					t.Fatalf("after the first session was forgotten: %d, want a new one let in", status)
				}
			})
		}
	}
}

// Requests that create nothing, or fail before the session is made, give
// their place back (a failed websocket handshake, a jsonp poll without a
// callback), and requests of an existing session are never refused.
func TestSessionLimitCountsOnlySessions(t *testing.T) {
	t.Parallel()
	srv, h := limitServer(t, sockjs.Options{MaxSessions: 1, DisconnectDelay: time.Minute})
	c := srv.Client()
	for range 3 {
		resp, err := c.Get(srv.URL + "/x/0/" + newSID() + "/websocket") // no Upgrade: 400
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain GET of websocket: %d", resp.StatusCode)
		}
		if code, _ := getBody(t, c, srv.URL+"/x/0/"+newSID()+"/jsonp"); code != http.StatusInternalServerError {
			t.Fatalf("jsonp without callback: %d", code)
		}
	}
	if n := h.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
	sid := newSID()
	if code, body := post(t, c, srv.URL+"/x/0/"+sid+"/xhr", "text/plain", ""); code != http.StatusOK || body != "o\n" {
		t.Fatalf("the one session: %d %q", code, body)
	}
	if code, _ := post(t, c, srv.URL+"/x/0/"+sid+"/xhr_send", "text/plain", `["x"]`); code != http.StatusNoContent {
		t.Fatalf("send to the one session: %d", code)
	}
	status, _, end := creators[1].create(t, srv, sid, nil) // xhr_streaming
	end()
	if status != http.StatusOK {
		t.Fatalf("a new receiving request of the one session: %d", status)
	}
}

func getBody(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// X-Forwarded-For counts only from a trusted proxy, and then the
// right-most address that is not a trusted proxy is the client: what a
// client writes to the left of it cannot make it someone else.
func TestSessionLimitPerClientTrust(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    sockjs.Options
		first   string // the X-Forwarded-For of the first session
		second  string // ... of the second one
		refused bool   // whether the second is taken for the same client
	}{
		{"trusted proxy, two clients", sockjs.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			"203.0.113.1", "203.0.113.2", false},
		{"trusted proxy, same client", sockjs.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			"203.0.113.1", "203.0.113.1", true},
		{"client-written entries on the left are ignored", sockjs.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			"203.0.113.1", "198.51.100.9, 203.0.113.1", true},
		{"a chain of trusted proxies", sockjs.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}},
			"203.0.113.1, 10.0.0.5", "203.0.113.1,10.0.0.6, 10.1.2.3", true},
		{"untrusted proxy: its header is ignored", sockjs.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			"203.0.113.1", "203.0.113.2", true},
		{"no trusted proxies: the header is ignored", sockjs.Options{},
			"203.0.113.1", "203.0.113.2", true},
		{"IPv6 clients count by /64", sockjs.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"other IPv6 /64s are other clients", sockjs.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"ClientAddr decides", sockjs.Options{ClientAddr: func(r *http.Request) string { return r.Header.Get("X-Forwarded-For")[:3] }},
			"203.0.113.1", "204.0.113.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.opts
			o.MaxSessionsPerClient = 1
			srv, _ := limitServer(t, o)
			xhr := creators[0]
			status, _, end := xhr.create(t, srv, newSID(), xff(tc.first))
			end()
			if status != http.StatusOK {
				t.Fatalf("first session: %d", status)
			}
			status, _, end = xhr.create(t, srv, newSID(), xff(tc.second))
			end()
			if refused := status == http.StatusServiceUnavailable; refused != tc.refused {
				t.Fatalf("second session (X-Forwarded-For %q after %q): %d; refused %v, want %v", tc.second, tc.first, status, refused, tc.refused)
			}
		})
	}
}

// Server and session ids longer than MaxIDLength are 404 on every session
// endpoint, as other malformed session URLs are; MaxIDLength itself is fine.
func TestLongIDsAreNotFound(t *testing.T) {
	t.Parallel()
	srv, h := limitServer(t, sockjs.Options{})
	c := srv.Client()
	long := strings.Repeat("s", sockjs.MaxIDLength+1)
	longest := strings.Repeat("s", sockjs.MaxIDLength)
	for _, path := range []string{"/0/" + long + "/xhr", "/" + long + "/a/xhr", "/0/" + long + "/xhr_send", "/0/" + long + "/xhr_streaming"} {
		if code, _ := post(t, c, srv.URL+"/x"+path, "text/plain", `["x"]`); code != http.StatusNotFound {
			t.Errorf("POST %.20s...: %d, want 404", path, code)
		}
	}
	for _, path := range []string{"/0/" + long + "/eventsource", "/0/" + long + "/htmlfile?c=cb", "/0/" + long + "/jsonp?c=cb", "/0/" + long + "/websocket"} {
		if code, _ := getBody(t, c, srv.URL+"/x"+path); code != http.StatusNotFound {
			t.Errorf("GET %.20s...: %d, want 404", path, code)
		}
	}
	if n := h.Len(); n != 0 {
		t.Fatalf("Len = %d after requests with long ids, want 0", n)
	}
	if code, body := post(t, c, srv.URL+"/x/"+longest+"/"+longest+"/xhr", "text/plain", ""); code != http.StatusOK || body != "o\n" {
		t.Fatalf("ids of MaxIDLength: %d %q", code, body)
	}
}

func TestSessionLimitOptionsValidate(t *testing.T) {
	t.Parallel()
	if err := (&sockjs.Options{MaxSessionsPerClient: -1}).Validate(); !errors.Is(err, sockjs.ErrInvalidOptions) {
		t.Fatalf("MaxSessionsPerClient -1: %v", err)
	}
	if err := (&sockjs.Options{MaxSessions: -1}).Validate(); err != nil {
		t.Fatalf("MaxSessions -1 (no bound): %v", err)
	}
}
