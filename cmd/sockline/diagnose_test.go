package main

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestDiagnose(t *testing.T) {
	tests := []struct {
		name string
		f    finding
		kind string
		want []string // in the cause or the hint
	}{
		{"upgrade stripped, 400",
			finding{Transport: "websocket", Stage: "open", Status: 400, StatusOf: "GET .../websocket", Body: `Can "Upgrade" only to "WebSocket".`},
			"upgrade stripped", []string{"the Upgrade header was dropped on the way", "400 Bad Request", "proxy_http_version 1.1", "Upgrade/Connection"}},
		{"upgrade stripped, 200",
			finding{Transport: "websocket", Stage: "open", Status: 200},
			"upgrade stripped", []string{"200 OK without \"Upgrade: websocket\""}},
		{"websocket 400 with Upgrade is not a stripped upgrade",
			finding{Transport: "websocket", Stage: "open", Status: 400, Upgrade: true, StatusOf: "GET .../websocket"},
			"http 400", []string{"unknown: GET .../websocket was answered 400"}},
		{"websocket 404 is not a stripped upgrade",
			finding{Transport: "websocket", Stage: "open", Status: 404, StatusOf: "GET .../websocket"},
			"http 404", []string{"unknown"}},
		{"xhr-streaming buffered, X-Accel-Buffering consumed",
			finding{Transport: "xhr-streaming", Stage: "open", Status: 200, Headers: 3 * time.Millisecond, Window: 5 * time.Second, Bytes: 0, Want: xhrStreamingWant},
			"response buffered", []string{"headers came in 3.00ms", "0 of the 2051 bytes", "5.0 s", "nginx proxy_buffering", "X-Accel-Buffering: no", "reaches nginx"}},
		{"eventsource buffered, X-Accel-Buffering arrived",
			finding{Transport: "eventsource", Stage: "open", Status: 200, Headers: time.Millisecond, Window: 2 * time.Second, Bytes: 2, Want: eventSourceWant, AccelNo: true},
			"response buffered", []string{"2 of the 13 bytes", "ignores it"}},
		{"a stream that came whole is not buffered",
			finding{Transport: "xhr-streaming", Stage: "open", Status: 200, Headers: time.Millisecond, Bytes: xhrStreamingWant, Want: xhrStreamingWant, Err: "timed out"},
			"unknown", []string{"unknown: timed out"}},
		{"a stream that ended early was not waited out: not buffered",
			finding{Transport: "xhr-streaming", Stage: "open", Status: 200, Headers: time.Millisecond, Bytes: 10, Want: xhrStreamingWant, Err: "x"},
			"unknown", nil},
		{"a polling transport is never buffered",
			finding{Transport: "xhr-polling", Stage: "open", Status: 200, Headers: time.Millisecond, Window: time.Second, Want: 10, Err: "x"},
			"unknown", nil},
		{"unknown authority",
			finding{Transport: "info", Stage: "info", TLS: tlsUnknownAuthority, TLSDetail: `issued by "Corp CA"`},
			"tls", []string{"not trust", `"Corp CA"`, "-cacert FILE", "-insecure"}},
		{"unknown authority despite -cacert",
			finding{Transport: "info", Stage: "info", TLS: tlsUnknownAuthority, CACert: true},
			"tls", []string{"the CA given with -cacert did not sign it"}},
		{"hostname", finding{TLS: tlsHostname}, "tls", []string{"not for this host"}},
		{"expired", finding{TLS: tlsExpired}, "tls", []string{"expired", "clock"}},
		{"plain http on the TLS port", finding{TLS: tlsNotTLS}, "tls", []string{"plain HTTP", "http://"}},
		{"TLS wins over the rest",
			finding{Transport: "websocket", Stage: "open", TLS: tlsOther, Status: 400},
			"tls", []string{"handshake failed"}},
		{"origin refused, origin given",
			finding{Transport: "xhr-polling", Stage: "open", Status: 403, StatusOf: "POST .../xhr", Body: "Origin not allowed.\n", Origin: "https://app.example"},
			"origin refused", []string{`answered 403: "Origin not allowed."`, "add https://app.example", "AllowedOrigins"}},
		{"origin refused on the websocket is not a stripped upgrade",
			finding{Transport: "websocket", Stage: "open", Status: 403, Body: "Origin not allowed."},
			"origin refused", []string{"-H 'Origin: "}},
		{"a 403 without the origin text is not an origin refusal",
			finding{Transport: "xhr-polling", Stage: "open", Status: 403, StatusOf: "POST .../xhr", Body: "Forbidden"},
			"http 403", []string{"unknown"}},
		{"cookie needed",
			finding{Transport: "xhr-polling", Stage: "echo", CookieNeeded: true, Status: 404, StatusOf: "POST .../xhr_send", Body: "Session not found."},
			"cookie needed", []string{"a cookie is needed", "no answer set a JSESSIONID", "POST .../xhr_send was answered 404", "sticky sessions"}},
		{"cookie needed but the cookie came: not the cookie",
			finding{Transport: "xhr-polling", Stage: "echo", CookieNeeded: true, SessionCookie: true, Err: "no echo in 5s"},
			"no echo", []string{"unknown"}},
		{"a websocket needs no cookie",
			finding{Transport: "websocket", Stage: "open", CookieNeeded: true, Err: "timed out"},
			"unknown", nil},
		{"idle cut",
			finding{Transport: "xhr-streaming", Stage: "idle", IdleCut: 30 * time.Second, Idle: time.Minute},
			"idle cut", []string{"closed a quiet connection after 30.0 s", "quiet for 1m0s", "heartbeat delay (25 s)", "proxy_read_timeout"}},
		{"silent drop",
			finding{Transport: "websocket", Stage: "idle", Silent: time.Minute, Idle: 2 * time.Minute},
			"silent drop", []string{"nothing came for 60.0 s", "25 s"}},
		{"server close on open",
			finding{Transport: "websocket", Stage: "open", ServerClose: `3000 "Go away!"`},
			"closed by server", []string{`instead of opening the session: 3000 "Go away!"`}},
		{"websocket off",
			finding{Transport: "websocket", Stage: "open", WebSocketOff: true},
			"websocket off", []string{"websocket: false"}},
		{"unreachable",
			finding{Transport: "info", Stage: "info", Unreachable: "dial tcp 10.0.0.1:443: connect: connection refused"},
			"unreachable", []string{"connection refused", "-proxy"}},
		{"proxy unreachable",
			finding{Transport: "info", Stage: "info", Unreachable: "proxyconnect tcp: refused", ProxyGiven: true},
			"unreachable", []string{"the proxy given with -proxy"}},
		{"proxy wants credentials",
			finding{Transport: "info", Stage: "info", Status: 407, StatusOf: "GET /info"},
			"proxy auth", []string{"407 Proxy Authentication Required", "user:password@"}},
		{"not sockjs: 404",
			finding{Transport: "info", Stage: "info", Status: 404, StatusOf: "GET /info"},
			"not sockjs", []string{"mounted at"}},
		{"not sockjs: not JSON",
			finding{Transport: "info", Stage: "info", BadInfo: "<html>Please log in</html>"},
			"not sockjs", []string{"Please log in"}},
		{"gateway timeout",
			finding{Transport: "xhr-polling", Stage: "open", Status: 504, StatusOf: "POST .../xhr"},
			"http 504", []string{"504 Gateway Timeout", "upstream"}},
		{"401",
			finding{Transport: "info", Stage: "info", Status: 401, StatusOf: "GET /info"},
			"http 401", []string{"-H 'Authorization: ...'"}},
		{"no echo",
			finding{Transport: "websocket", Stage: "echo", Err: "no echo in 5s"},
			"no echo", []string{"unknown: the session opened but the message did not come back (no echo in 5s)", "-m"}},
		{"a stream held whole while a poll passes",
			finding{Transport: "xhr-streaming", Stage: "open", StatusOf: "POST .../xhr_streaming", NoAnswer: 5 * time.Second, PollAnswered: 4 * time.Millisecond},
			"response buffered", []string{"headers included", "no answer at all in 5.0 s", "answered in 4.00ms", "proxy_buffering off"}},
		{"a websocket with no answer is not buffering, whatever polls do",
			finding{Transport: "websocket", Stage: "open", StatusOf: "GET .../websocket", NoAnswer: 5 * time.Second, PollAnswered: time.Millisecond},
			"no answer", []string{"unknown"}},
		{"no answer at all",
			finding{Transport: "eventsource", Stage: "open", StatusOf: "GET .../eventsource", NoAnswer: 5 * time.Second},
			"no answer", []string{"unknown: GET .../eventsource got no answer at all in 5.0 s"}},
		{"the send failed though the stream opened",
			finding{Transport: "xhr-streaming", Stage: "echo", Status: 500, StatusOf: "POST .../xhr_send"},
			"http 500", []string{"unknown: POST .../xhr_send was answered 500 Internal Server Error"}},
		{"nothing observed",
			finding{Transport: "eventsource", Stage: "open", Err: "something odd"},
			"unknown", []string{"unknown: something odd", "-v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := diagnose(tt.f)
			if d.Kind != tt.kind {
				t.Fatalf("kind %q, want %q (%+v)", d.Kind, tt.kind, d)
			}
			if d.Cause == "" || d.Hint == "" {
				t.Errorf("%+v: want a cause and a hint", d)
			}
			for _, w := range tt.want {
				if !strings.Contains(d.Cause+"\n"+d.Hint, w) {
					t.Errorf("%+v lacks %q", d, w)
				}
			}
		})
	}
}

// classify reads the TLS failures and connection errors out of wrapped
// errors, as the client and net/http return them.
func TestClassify(t *testing.T) {
	cert := &x509.Certificate{Issuer: pkix.Name{CommonName: "Corp CA"}}
	wrap := func(err error) error {
		return fmt.Errorf("client: transport failed: %w", &url.Error{Op: "Get", URL: "https://x/info", Err: err})
	}
	tests := []struct {
		err         error
		tls         tlsFault
		detail      string
		unreachable bool
	}{
		{wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{Cert: cert}}), tlsUnknownAuthority, `issued by "Corp CA"`, false},
		{wrap(&tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"a.example"}}, Host: "b.example"}}), tlsHostname, "a.example", false},
		{wrap(x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired}), tlsExpired, "expired", false},
		{wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), tlsNotTLS, "", false},
		{wrap(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}), tlsNone, "", true},
		{wrap(&net.DNSError{Err: "no such host", Name: "nowhere.example"}), tlsNone, "", true},
		{wrap(errors.New("EOF")), tlsNone, "", false},
	}
	for _, tt := range tests {
		var f finding
		classify(tt.err, &f)
		if f.TLS != tt.tls || !strings.Contains(f.TLSDetail, tt.detail) || (f.Unreachable != "") != tt.unreachable {
			t.Errorf("%v: %+v, want TLS %d with %q, unreachable %v", tt.err, f, tt.tls, tt.detail, tt.unreachable)
		}
	}
}
