package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// finding is what probe saw of one transport that failed (or of /info),
// from the client's error and from its own raw requests. diagnose turns it
// into a likely cause and a hint; it is kept apart from the probing so
// that the rules can be tested on their own.
type finding struct {
	Transport string // "websocket", ...; "info" for /info
	Stage     string // what failed: "info", "open", "echo" or "idle"
	Err       string // the client's error, short

	// Connection errors before any answer.
	TLS         tlsFault
	TLSDetail   string // the issuer of an unknown authority, the names a certificate is for, ...
	CACert      bool   // -cacert was given
	Unreachable string // could not connect (refused, no such host, dial timeout): the error
	ProxyGiven  bool   // -proxy was given

	// The answer to probe's raw request (or, failing that, the first
	// error answer to one of the client's requests).
	Status   int    // HTTP status; 0 when there was no answer
	StatusOf string // the request answered, "GET /info", "POST .../xhr_send"
	Body     string // the start of an error answer's body
	Upgrade  bool   // websocket: the answer carried "Upgrade: websocket"
	Origin   string // the Origin header probe sent (-H), if any

	// Streaming transports (xhr-streaming, eventsource): how the raw
	// stream went.
	Headers time.Duration // when its headers came; 0: they never did
	Window  time.Duration // how long probe waited in vain for the rest of the body after them; 0: the body ended first
	Bytes   int           // body bytes received in Window
	Want    int           // bytes the server sends at once: prelude and open frame
	AccelNo bool          // the answer carried "X-Accel-Buffering: no"

	NoAnswer time.Duration // probe's request got no answer at all (not even headers) in this long
	// PollAnswered: when a stream got no answer, a poll of a new session
	// (whose response ends at once) was answered with its open frame in
	// this long; 0: it was not, or was not tried.
	PollAnswered time.Duration

	// Sessions and cookies.
	CookieNeeded  bool          // /info said cookie_needed: true
	SessionCookie bool          // some answer set a JSESSIONID cookie
	WebSocketOff  bool          // /info said websocket: false
	ServerClose   string        // the server closed the session: `3000 "Go away!"`
	IdleCut       time.Duration // the path cut a quiet connection after this long
	Silent        time.Duration // nothing at all came for this long (the client gave up)
	Idle          time.Duration // the quiet period asked for (-idle)
	BadInfo       string        // /info answered 200 with this, which is not SockJS info
}

// tlsFault classifies a TLS failure.
type tlsFault int

const (
	tlsNone             tlsFault = iota
	tlsUnknownAuthority          // x509: certificate signed by unknown authority
	tlsHostname                  // the certificate is for other names
	tlsExpired                   // expired or not yet valid
	tlsNotTLS                    // the server answered TLS with plain HTTP
	tlsOther                     // any other handshake failure
)

// diagnosis is a likely cause and what to do about it.
type diagnosis struct {
	Kind  string `json:"kind"`           // short: "upgrade stripped", "response buffered", ...
	Cause string `json:"cause"`          // what was observed, and what it likely means
	Hint  string `json:"hint,omitempty"` // how to fix it
}

// heartbeatDelay is the servers' default heartbeat period (sockjs-node,
// sockjs-go and this module's sockjs package): a path must let a
// connection stay quiet longer than this.
const heartbeatDelay = 25 * time.Second

// diagnose names the likely cause of a failure from what was observed. It
// claims a cause only on its evidence, and says "unknown" otherwise.
func diagnose(f finding) diagnosis {
	switch {
	case f.TLS != tlsNone:
		return tlsDiagnosis(f)

	case f.Unreachable != "":
		d := diagnosis{Kind: "unreachable", Cause: "could not connect: " + f.Unreachable}
		if f.ProxyGiven {
			d.Hint = "check the proxy given with -proxy: its host and port, and that it is running"
		} else {
			d.Hint = "check the host and port in the URL; if this network needs a proxy, give it with -proxy (or HTTPS_PROXY/HTTP_PROXY)"
		}
		return d

	case f.Transport == "websocket" && f.WebSocketOff:
		return diagnosis{Kind: "websocket off",
			Cause: "the server has websocket turned off (/info says websocket: false)",
			Hint:  "nothing on the path: clients use the other transports; to offer websocket, the server must turn it on (sockjs Options.DisableWebSocket false)"}

	case f.ServerClose != "":
		d := diagnosis{Kind: "closed by server", Cause: "the server closed the session: " + f.ServerClose}
		if f.Stage == "open" {
			d.Cause = "the server answered with a close frame instead of opening the session: " + f.ServerClose
		}
		d.Hint = "the application refused or ended it: see its logs for that close code"
		return d

	case f.IdleCut > 0:
		cut := seconds(f.IdleCut)
		return diagnosis{Kind: "idle cut",
			Cause: fmt.Sprintf("the path closed a quiet connection after %s s (probe was quiet for %s)", cut, durationText(f.Idle)),
			Hint: fmt.Sprintf("raise the proxy's read timeout above the heartbeat delay (%d s) (nginx proxy_read_timeout, HAProxy timeout server/tunnel, a cloud load balancer's idle timeout), or set the server's heartbeat delay below %s s (sockjs Options.HeartbeatDelay)",
				int(heartbeatDelay/time.Second), cut)}

	case f.Silent > 0:
		return diagnosis{Kind: "silent drop",
			Cause: fmt.Sprintf("nothing came for %s s while probe was quiet, not even the server's heartbeats: the path likely dropped the quiet connection without closing it", seconds(f.Silent)),
			Hint: fmt.Sprintf("raise the idle timeout of the proxies, NATs and firewalls on the path above the heartbeat delay (%d s)",
				int(heartbeatDelay/time.Second))}

	case f.BadInfo != "":
		return diagnosis{Kind: "not sockjs",
			Cause: "GET /info was answered 200 but not with SockJS info" + bodyNote(f.BadInfo) + ": the URL is not a SockJS endpoint, or something on the path answers in its place (a login page, a captive portal)",
			Hint:  "give the path the SockJS server is mounted at (such as https://example.com/echo), and check what the proxy routes there"}

	case f.Status == 407:
		return diagnosis{Kind: "proxy auth",
			Cause: fmt.Sprintf("%s was answered %s by the proxy", f.StatusOf, statusText(f.Status)),
			Hint:  "the proxy wants credentials: -proxy http://user:password@host:port"}

	case f.Status == 403 && strings.Contains(strings.ToLower(f.Body), "origin not allowed"):
		d := diagnosis{Kind: "origin refused",
			Cause: fmt.Sprintf("%s was answered 403: %q", f.StatusOf, strings.TrimSpace(f.Body))}
		if f.Origin != "" {
			d.Hint = fmt.Sprintf("add %s to the server's allowed origins (sockjs Options.AllowedOrigins)", f.Origin)
		} else {
			d.Hint = "add this origin to the server's allowed origins (sockjs Options.AllowedOrigins); pass the page's origin with -H 'Origin: https://...' to test it"
		}
		return d

	case f.Transport == "websocket" && f.Stage == "open" && (f.Status == 200 || f.Status == 400 || f.Status == 426) && !f.Upgrade:
		return diagnosis{Kind: "upgrade stripped",
			Cause: fmt.Sprintf("the Upgrade header was dropped on the way: the websocket handshake was answered %s without \"Upgrade: websocket\"%s",
				statusText(f.Status), bodyNote(f.Body)),
			Hint: "a proxy on the path has no websocket support or does not pass the upgrade on; nginx needs proxy_http_version 1.1 and the Upgrade/Connection headers " +
				"(proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\")"}

	case (f.Transport == "xhr-streaming" || f.Transport == "eventsource") && f.Status == 200 && f.Headers > 0 && f.Window > 0 && f.Bytes < f.Want:
		d := diagnosis{Kind: "response buffered",
			Cause: fmt.Sprintf("response buffered on the way: the stream's headers came in %s but then only %d of the %d bytes the server sends at once in %s s",
				ms(f.Headers), f.Bytes, f.Want, seconds(f.Window))}
		if f.AccelNo {
			d.Hint = "a proxy holds the response until its buffer fills; the server's \"X-Accel-Buffering: no\" reached this client, so the proxy that buffers ignores it " +
				"(not nginx, or nginx with proxy_ignore_headers X-Accel-Buffering): turn response buffering off for this path there"
		} else {
			d.Hint = "a proxy holds the response until its buffer fills (nginx proxy_buffering): the server sends \"X-Accel-Buffering: no\", which nginx obeys; " +
				"check that it reaches nginx (another proxy in front of the server may drop it), or set proxy_buffering off for this location"
		}
		return d

	case (f.Transport == "xhr-streaming" || f.Transport == "eventsource") && f.NoAnswer > 0 && f.Status == 0 && f.PollAnswered > 0:
		return diagnosis{Kind: "response buffered",
			Cause: fmt.Sprintf("response buffered on the way, headers included: %s got no answer at all in %s s, while a poll, whose response ends at once, was answered in %s: "+
				"a proxy holds each response until it ends or its buffer fills, and a stream does not end", f.StatusOf, seconds(f.NoAnswer), ms(f.PollAnswered)),
			Hint: "turn response buffering off for this path on the proxy that buffers (nginx: proxy_buffering off, or let the server's \"X-Accel-Buffering: no\" work: " +
				"no proxy_ignore_headers X-Accel-Buffering); until then clients fall back to polling"}

	case f.NoAnswer > 0 && f.Status == 0:
		return diagnosis{Kind: "no answer",
			Cause: fmt.Sprintf("unknown: %s got no answer at all in %s s, not even its headers", f.StatusOf, seconds(f.NoAnswer)),
			Hint:  "a proxy may hold the whole response, headers included, or the server is stuck: run with -v, and compare with a probe from the server's own network"}

	case f.CookieNeeded && !f.SessionCookie && f.Transport != "websocket" && (f.Stage == "open" || f.Stage == "echo"):
		// An HTTP transport's requests must all reach the node holding the
		// session; a websocket is one connection and needs no cookie.
		return diagnosis{Kind: "cookie needed",
			Cause: "a cookie is needed: /info says cookie_needed: true but no answer set a JSESSIONID cookie" + answered(f),
			Hint:  "the server relies on a cookie to keep a session on one node: your balancer needs sticky sessions (by the JSESSIONID cookie, or by client address), and the cookie must not be stripped on the way"}

	case f.Status == 401:
		return diagnosis{Kind: "http 401",
			Cause: fmt.Sprintf("%s was answered %s%s", f.StatusOf, statusText(f.Status), bodyNote(f.Body)),
			Hint:  "the server wants credentials: pass them with -H 'Authorization: ...' (or a cookie with -H 'Cookie: ...')"}

	case f.Status == 404 && f.StatusOf == "GET /info":
		return diagnosis{Kind: "not sockjs",
			Cause: "GET /info was answered 404 Not Found: nothing SockJS at this URL",
			Hint:  "give the path the SockJS server is mounted at (the prefix, such as https://example.com/echo), and check the proxy routes it"}

	case f.Status == 502 || f.Status == 503 || f.Status == 504:
		return diagnosis{Kind: fmt.Sprintf("http %d", f.Status),
			Cause: fmt.Sprintf("%s was answered %s%s", f.StatusOf, statusText(f.Status), bodyNote(f.Body)),
			Hint:  "a proxy on the path got no (timely) answer from the server behind it: check the server is up and the proxy's upstream address and timeouts"}

	case f.Status >= 400:
		return diagnosis{Kind: fmt.Sprintf("http %d", f.Status),
			Cause: fmt.Sprintf("unknown: %s was answered %s%s", f.StatusOf, statusText(f.Status), bodyNote(f.Body)),
			Hint:  "run with -v to see every request and its answer"}

	case f.Stage == "echo" || f.Stage == "idle":
		return diagnosis{Kind: "no echo",
			Cause: "unknown: the session opened but the message did not come back (" + f.Err + ")",
			Hint:  "probe wants an endpoint that echoes what it is sent (-m is the message); on one, run with -v to see every request"}
	}
	return diagnosis{Kind: "unknown", Cause: "unknown: " + f.Err, Hint: "run with -v to see every request and its answer"}
}

// tlsDiagnosis is diagnose for a TLS failure.
func tlsDiagnosis(f finding) diagnosis {
	d := diagnosis{Kind: "tls"}
	switch f.TLS {
	case tlsUnknownAuthority:
		d.Cause = "TLS: the server's certificate is signed by an authority this machine does not trust"
		if f.TLSDetail != "" {
			d.Cause += " (" + f.TLSDetail + ")"
		}
		if f.CACert {
			d.Hint = "the CA given with -cacert did not sign it either: give the CA that did (a TLS-inspecting proxy has its own), or -insecure to skip verification for a test"
		} else {
			d.Hint = "give the CA that signed it with -cacert FILE (a TLS-inspecting corporate proxy has its own CA), or -insecure to skip verification for a test"
		}
	case tlsHostname:
		d.Cause = "TLS: the server's certificate is not for this host"
		if f.TLSDetail != "" {
			d.Cause += " (" + f.TLSDetail + ")"
		}
		d.Hint = "use the host name the certificate is for, or have the server (or the proxy terminating TLS) use a certificate for this one"
	case tlsExpired:
		d.Cause = "TLS: the server's certificate is expired or not yet valid"
		if f.TLSDetail != "" {
			d.Cause += " (" + f.TLSDetail + ")"
		}
		d.Hint = "renew the certificate on the server (or on the proxy terminating TLS), or check this machine's clock"
	case tlsNotTLS:
		d.Cause = "TLS: the server answered the TLS handshake with plain HTTP"
		d.Hint = "use an http:// URL for this port, or the port that serves https"
	default:
		d.Cause = "TLS: the handshake failed"
		if f.TLSDetail != "" {
			d.Cause += ": " + f.TLSDetail
		}
		d.Hint = "run with -v; check the server's (or proxy's) TLS settings, and -cacert"
	}
	return d
}

// statusText is "404 Not Found".
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}

// answered notes the error answer seen, if any: "; POST .../xhr_send was
// answered 404 Not Found".
func answered(f finding) string {
	if f.Status < 400 || f.StatusOf == "" {
		return ""
	}
	return fmt.Sprintf("; %s was answered %s%s", f.StatusOf, statusText(f.Status), bodyNote(f.Body))
}

// bodyNote quotes the start of an answer's body, if any.
func bodyNote(body string) string {
	body = strings.TrimSpace(body)
	if body == "" {
		return ""
	}
	if len(body) > 80 {
		body = body[:77] + "..."
	}
	return fmt.Sprintf(" (%q)", body)
}

// seconds prints a duration in seconds with one decimal.
func seconds(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }

// durationText prints a duration the way it was given (60s, 1m30s).
func durationText(d time.Duration) string { return d.String() }

// classify notes a connection error's TLS failure, or a failure to
// connect at all, in f.
func classify(err error, f *finding) {
	if err == nil {
		return
	}
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
		ve *tls.CertificateVerificationError
		ae tls.AlertError
		de *net.DNSError
		oe *net.OpError
	)
	switch {
	case errors.As(err, &ua):
		f.TLS = tlsUnknownAuthority
		if ua.Cert != nil {
			f.TLSDetail = "issued by " + certName(ua.Cert.Issuer.CommonName, ua.Cert.Issuer.Organization)
		}
	case errors.As(err, &he):
		f.TLS = tlsHostname
		f.TLSDetail = he.Error()
	case errors.As(err, &ci):
		f.TLS, f.TLSDetail = tlsOther, ci.Error()
		if ci.Reason == x509.Expired {
			f.TLS = tlsExpired
		}
	case errors.As(err, &rh):
		f.TLS = tlsNotTLS
	case errors.As(err, &ve), errors.As(err, &ae):
		f.TLS, f.TLSDetail = tlsOther, err.Error()
	case errors.As(err, &de):
		f.Unreachable = de.Error()
	case errors.As(err, &oe) && (oe.Op == "dial" || oe.Op == "proxyconnect"):
		f.Unreachable = oe.Error()
	}
}

// certName names a certificate's subject or issuer.
func certName(cn string, org []string) string {
	switch {
	case cn != "":
		return fmt.Sprintf("%q", cn)
	case len(org) > 0:
		return fmt.Sprintf("%q", org[0])
	}
	return "an unnamed authority"
}
