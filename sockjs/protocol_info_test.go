package sockjs_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

// infoBody decodes /info keeping numbers as written, so that an entropy
// with a fraction or an exponent is caught.
func infoBody(t *testing.T, r *response) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(r.Body()))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("/info body %q: %v", r.Body(), err)
	}
	return m
}

// entropy returns /info's entropy, which must be a JSON integer in
// 0..2^32-1.
func entropy(t *testing.T, m map[string]any) uint64 {
	t.Helper()
	n, ok := m["entropy"].(json.Number)
	if !ok {
		t.Fatalf("entropy = %#v; want a number", m["entropy"])
	}
	if strings.ContainsAny(n.String(), ".eE-") {
		t.Fatalf("entropy = %s; want a JSON integer", n)
	}
	v, err := n.Int64()
	if err != nil || v < 0 || v > 1<<32-1 {
		t.Fatalf("entropy = %s; want an integer in 0..2^32-1", n)
	}
	return uint64(v)
}

// R-INFO-1: GET /info.
func TestProtocolInfo(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.get(t, "/echo/info")
	expectStatus(t, r, http.StatusOK)
	expectContentType(t, r, "application/json;charset=UTF-8")
	expectNoCookie(t, r)
	expectNotCached(t, r)
	expectCORS(t, r, "") // DEVIATION (2): "*" and no credentials header
	m := infoBody(t, r)
	if m["websocket"] != true {
		t.Errorf("websocket = %#v; want true", m["websocket"])
	}
	if _, ok := m["cookie_needed"].(bool); !ok {
		t.Errorf("cookie_needed = %#v; want a boolean", m["cookie_needed"])
	}
	if o, ok := m["origins"].([]any); !ok || len(o) != 1 || o[0] != "*:*" {
		t.Errorf(`origins = %#v; want ["*:*"]`, m["origins"])
	}
	entropy(t, m)
}

// R-INFO-2: entropy differs from one request to the next.
func TestProtocolInfoEntropy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := entropy(t, infoBody(t, f.get(t, "/echo/info")))
	b := entropy(t, infoBody(t, f.get(t, "/echo/info")))
	if a == b {
		t.Fatalf("two /info requests gave the same entropy %d", a)
	}
}

// R-INFO-3: OPTIONS /info is a preflight for GET.
func TestProtocolInfoOptions(t *testing.T) {
	t.Parallel()
	expectOptions(t, newFixture(t), "/echo/info", "OPTIONS, GET")
}

// R-INFO-4: OPTIONS /info with "Origin: null". DEVIATION (2): the suite
// wants "*"; the project never answers "*" to null: it refuses null with
// 403 unless null (or any origin) is allowed, and then answers "null" with
// credentials. The fixture allows every origin, like the test server.
func TestProtocolInfoOptionsNullOrigin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.do(t, http.MethodOptions, "/echo/info", "", "Origin: null")
	expectBody(t, r, http.StatusNoContent, "")
	expectCORS(t, r, "null")
}

// R-INFO-5: /info tells whether websocket is enabled.
func TestProtocolInfoDisabledWebsocket(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.get(t, "/disabled_websocket_echo/info")
	expectStatus(t, r, http.StatusOK)
	if m := infoBody(t, r); m["websocket"] != false {
		t.Fatalf("websocket = %#v; want false", m["websocket"])
	}
}

// DEVIATION (2), the default origin policy (no AllowAnyOrigin): no Origin
// gets "*" without credentials; "Origin: null" and origins not allowed get
// 403; an allowed origin is echoed with credentials; AllowNullOrigin
// answers null with "null", never "*".
func TestProtocolCORSPolicy(t *testing.T) {
	t.Parallel()
	strict := newFixture(t, func(o *sockjs.Options) {
		o.AllowAnyOrigin = false
		o.AllowedOrigins = []string{"http://allowed.example"}
	})
	withNull := newFixture(t, func(o *sockjs.Options) {
		o.AllowAnyOrigin = false
		o.AllowNullOrigin = true
	})
	cases := []struct {
		name   string
		f      *fixture
		origin string
		status int // of GET /info; OPTIONS gets 204 for the allowed ones
	}{
		{"no origin", strict, "", http.StatusOK},
		{"null refused by default", strict, "null", http.StatusForbidden},
		{"other origin refused", strict, "http://evil.example", http.StatusForbidden},
		{"not an origin refused", strict, "test", http.StatusForbidden},
		{"allowed origin echoed", strict, "http://allowed.example", http.StatusOK},
		{"null allowed", withNull, "null", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hdr []string
			if tc.origin != "" {
				hdr = append(hdr, "Origin: "+tc.origin)
			}
			for _, method := range []string{http.MethodGet, http.MethodOptions} {
				r := tc.f.do(t, method, "/echo/info", "", hdr...)
				if tc.status == http.StatusForbidden {
					expectStatus(t, r, http.StatusForbidden)
					expectNoHeader(t, r, "Access-Control-Allow-Origin")
					expectNoHeader(t, r, "Access-Control-Allow-Credentials")
					continue
				}
				if method == http.MethodOptions {
					expectStatus(t, r, http.StatusNoContent)
				} else {
					expectStatus(t, r, tc.status)
				}
				expectCORS(t, r, tc.origin)
			}
			// The same decision on a session endpoint: xhr.
			r := tc.f.post(t, sessionBase("/echo")+"/xhr", "", hdr...)
			if tc.status == http.StatusForbidden {
				expectStatus(t, r, http.StatusForbidden)
				return
			}
			expectBody(t, r, http.StatusOK, "o\n")
			expectCORS(t, r, tc.origin)
		})
	}
}
