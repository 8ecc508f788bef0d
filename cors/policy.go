package cors

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrInvalidOrigin is wrapped by the error [New] returns for a malformed
// entry of [Config.AllowedOrigins] or [Config.AllowedOriginPatterns].
var ErrInvalidOrigin = errors.New("cors: invalid origin")

// Config describes which cross-origin pages may use a SockJS endpoint.
//
// The zero Config is the safe default: only same-origin pages, and clients
// that send no Origin header at all (non-browser clients), are allowed.
type Config struct {
	// AllowedOrigins lists exact origins allowed besides the server's own,
	// each written scheme://host[:port] with scheme http or https, e.g.
	// "https://app.example.com" or "http://localhost:3000". No path, not
	// even a trailing "/", no query, fragment or user@. Comparison ignores
	// case and a default port (":443" for https, ":80" for http).
	// Default: none.
	AllowedOrigins []string

	// AllowedOriginPatterns lists origins with wildcards. In the host, '*'
	// matches one or more letters, digits, '-' or '_' and never a '.', so
	// "https://*.example.com" matches "https://a.example.com" but not
	// "https://example.com", "https://a.b.example.com" or
	// "https://example.com.evil.com". As the port, '*' matches any port,
	// the default one included: "http://localhost:*". The labels after
	// the last wildcard must be literal and at least two (or "localhost"),
	// so "https://*.com" is refused. A pattern without '*' is an exact
	// origin. Default: none.
	AllowedOriginPatterns []string

	// AllowAnyOrigin allows every Origin, "null" and values that are not
	// valid origins included. The response echoes the request's Origin
	// value (never "*", which browsers refuse together with credentials).
	// Only for public endpoints that grant nothing from cookies or other
	// ambient credentials. Default: false.
	AllowAnyOrigin bool

	// AllowNullOrigin allows the opaque origin "null", sent by sandboxed
	// iframes, file:// pages and some redirects. Any web site can produce
	// it (a sandboxed iframe of its own), so enabling this lets any site
	// in; it is answered with "Access-Control-Allow-Origin: null", never
	// "*". Default: false.
	AllowNullOrigin bool

	// Disabled leaves origin handling to the application's own middleware:
	// no CORS header is written and no origin is refused, WebSocket
	// handshakes included, so that middleware must then protect the
	// WebSocket endpoint against cross-site hijacking itself.
	// Default: false.
	Disabled bool

	// Check, when set, is asked about a request whose Origin the rules
	// above refuse (same origin, AllowedOrigins, AllowedOriginPatterns,
	// AllowNullOrigin, AllowAnyOrigin), for origin rules that lists cannot
	// express (looked up in a database, per tenant); returning true lets it
	// in, answered like a listed origin. It can only widen the lists, never
	// narrow them: an origin they allow is allowed without asking. It is
	// not asked about requests without an Origin (always allowed) or with
	// several (always refused), nor when Disabled. It does not change
	// Restricted, and [Policy.FrameAncestors] cannot list what it allows.
	// It must be safe for concurrent use and quick: it runs on every
	// refused request. Default: nil.
	Check func(r *http.Request) bool
}

// Policy is a validated [Config]. It is immutable and safe for concurrent
// use. The zero Policy allows same-origin requests and requests without an
// Origin header only, like New(Config{}).
type Policy struct {
	exact      map[origin]struct{} // allowed origins
	exactList  []origin            // the same, in configuration order
	patterns   []pattern
	anyOrigin  bool
	nullOrigin bool
	disabled   bool
	check      func(*http.Request) bool
}

// New validates c and returns its Policy. Each malformed origin or pattern
// yields an error wrapping [ErrInvalidOrigin] that quotes the value and the
// expected form; all of them are reported together (joined with
// errors.Join).
func New(c Config) (*Policy, error) {
	p := &Policy{
		anyOrigin:  c.AllowAnyOrigin,
		nullOrigin: c.AllowNullOrigin,
		disabled:   c.Disabled,
		check:      c.Check,
	}
	var errs []error
	for _, s := range c.AllowedOrigins {
		if hint := specialValueHint(s); hint != "" {
			errs = append(errs, fmt.Errorf("%w %q in AllowedOrigins: %s", ErrInvalidOrigin, s, hint))
			continue
		}
		if strings.Contains(s, "*") {
			errs = append(errs, fmt.Errorf("%w %q in AllowedOrigins: wildcards belong in AllowedOriginPatterns", ErrInvalidOrigin, s))
			continue
		}
		o, err := parseOrigin(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w %q in AllowedOrigins: %v; want scheme://host[:port] with scheme http or https, e.g. https://app.example.com", ErrInvalidOrigin, s, err))
			continue
		}
		if p.exact == nil {
			p.exact = make(map[origin]struct{})
		}
		if _, dup := p.exact[o]; !dup {
			p.exact[o] = struct{}{}
			p.exactList = append(p.exactList, o)
		}
	}
	seen := make(map[string]bool)
	for _, s := range c.AllowedOriginPatterns {
		if hint := specialValueHint(s); hint != "" {
			errs = append(errs, fmt.Errorf("%w %q in AllowedOriginPatterns: %s", ErrInvalidOrigin, s, hint))
			continue
		}
		pt, err := parsePattern(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w %q in AllowedOriginPatterns: %v; want scheme://host[:port] where '*' may stand for part of a host label or for the port, e.g. https://*.example.com or http://localhost:*", ErrInvalidOrigin, s, err))
			continue
		}
		if n := pt.String(); !seen[n] {
			seen[n] = true
			p.patterns = append(p.patterns, pt)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// specialValueHint explains the values people write in an origin list that
// have their own switch.
func specialValueHint(s string) string {
	switch strings.TrimSpace(s) {
	case "*", "*://*", "*:*":
		return "to allow every origin set AllowAnyOrigin instead"
	case "null":
		return `to allow the "null" origin set AllowNullOrigin instead`
	case "":
		return "empty origin"
	}
	return ""
}

// Decision is the outcome of [Policy.Check].
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Origin is the request's Origin header value as sent (the first one,
	// if several), or "" when the request carries none (or an empty one).
	Origin string
	// CrossOrigin reports whether an Origin was sent that is not the
	// request's own origin (see [Policy.Check]); "null" and malformed
	// values count as cross-origin.
	CrossOrigin bool
}

// Check decides whether r may proceed, in this order:
//
//   - Disabled: allowed, whatever the Origin.
//   - No Origin header, or an empty one: allowed. Browsers send Origin on
//     every CORS request, every POST and every WebSocket handshake; it is
//     missing from same-origin GETs, from non-browser clients (which an
//     origin check cannot stop anyway) and from cross-site loads such as
//     <script> (which is why JSONP needs care, see the package doc).
//   - More than one Origin header: refused (browsers never send that).
//   - "null": allowed only with AllowNullOrigin or AllowAnyOrigin.
//   - A value that does not parse as an http or https origin: allowed only
//     with AllowAnyOrigin.
//   - Same origin: allowed (see below).
//   - Otherwise allowed with AllowAnyOrigin, when listed in AllowedOrigins,
//     or when matching one of AllowedOriginPatterns.
//   - Refused by the rules above (one Origin header): allowed when
//     [Config.Check] is set and returns true.
//
// Same origin means the Origin's host and port equal the request's Host
// header (r.Host). The request's scheme is taken from r.TLS when the
// connection is TLS, else from the first X-Forwarded-Proto value when it
// is http, https, ws or wss. When a scheme is known, the Origin's scheme
// must equal it, and a Host without a port means that scheme's default
// port. When none is known (plain HTTP without a proxy header, or a TLS
// proxy that does not send X-Forwarded-Proto), the scheme is not compared
// and a Host without a port means the Origin scheme's default port: this is
// gorilla/websocket's rule, made stricter when the scheme is known.
// Trusting X-Forwarded-Proto is safe here: a hostile page cannot set it on
// a WebSocket handshake or a simple request, and it can only narrow the
// match, never widen it to another host. X-Forwarded-Host is not trusted;
// behind a proxy that rewrites Host, list the public origin in
// AllowedOrigins (or make the proxy keep Host).
func (p *Policy) Check(r *http.Request) Decision {
	vals := r.Header.Values("Origin")
	if len(vals) == 0 || len(vals) == 1 && vals[0] == "" {
		return Decision{Allowed: true}
	}
	d := Decision{Origin: vals[0], CrossOrigin: true}
	switch {
	case len(vals) > 1:
		d.Allowed = p.disabled
	case d.Origin == "null":
		d.Allowed = p.disabled || p.anyOrigin || p.nullOrigin
	default:
		o, err := parseOrigin(d.Origin)
		if err != nil {
			d.Allowed = p.disabled || p.anyOrigin
			break
		}
		if sameOrigin(o, r) {
			d.Allowed, d.CrossOrigin = true, false
			break
		}
		d.Allowed = p.disabled || p.anyOrigin || p.listed(o)
	}
	if !d.Allowed && len(vals) == 1 && p.check != nil {
		d.Allowed = p.check(r)
	}
	return d
}

// listed reports whether o is in AllowedOrigins or matches a pattern.
func (p *Policy) listed(o origin) bool {
	if _, ok := p.exact[o]; ok {
		return true
	}
	for _, pt := range p.patterns {
		if pt.match(o) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether o is r's own origin; see [Policy.Check].
func sameOrigin(o origin, r *http.Request) bool {
	host, port, hasPort, err := splitHostPort(r.Host)
	if err != nil {
		return false
	}
	if host, err = normaliseHost(host); err != nil || host != o.host {
		return false
	}
	scheme := RequestScheme(r)
	if scheme == "" {
		scheme = o.scheme
	} else if scheme != o.scheme {
		return false
	}
	port, err = normalisePort(port, hasPort, scheme)
	return err == nil && port == o.port
}

// RequestScheme returns "https" or "http" when the request's scheme is
// known from r.TLS or X-Forwarded-Proto (its first element, as a proxy
// that appends itself writes "https, http"), else "". It is the scheme
// [Policy.Check] compares origins with; use it for other decisions that
// depend on it, such as the Secure attribute of a cookie.
func RequestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	v, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	switch asciiLower(strings.TrimSpace(v)) {
	case "https", "wss":
		return "https"
	case "http", "ws":
		return "http"
	}
	return ""
}

// CheckWebSocketOrigin reports whether a WebSocket handshake may proceed,
// by the rules of [Policy.Check]. It has the type of gorilla/websocket's
// Upgrader.CheckOrigin; browsers send Origin on every handshake, so this is
// the defence against cross-site WebSocket hijacking (a hostile page opening
// a WebSocket that carries the victim's cookies).
func (p *Policy) CheckWebSocketOrigin(r *http.Request) bool {
	return p.Check(r).Allowed
}

// Restricted reports whether origins are restricted, that is neither
// AllowAnyOrigin nor Disabled is set. Transports whose requests carry no
// Origin (jsonp polling is loaded by a <script> tag) cannot be checked, so
// the handler refuses them on a restricted policy unless the application
// enables them explicitly.
func (p *Policy) Restricted() bool {
	return !p.anyOrigin && !p.disabled
}

// FrameAncestors returns the source list for a Content-Security-Policy
// "frame-ancestors" directive on the iframe page, e.g.
//
//	'self' https://app.example.com https://*.example.com http://localhost:*
//
// It is "'self'" followed by the allowed origins and patterns that CSP can
// express, "*" with AllowAnyOrigin, and "" when Disabled (set no directive:
// the application decides). CSP cannot express a wildcard inside a label
// ("https://app-*.example.com"), IPv6 literals or '_' in host names; such
// entries are left out, so pages of those origins cannot frame the iframe
// page (the safe direction). Conversely CSP's "https://*.example.com" also
// admits deeper subdomains (a.b.example.com), which the CORS check does not.
// Nor can CSP name the "null" origin.
//
// The iframe page runs the SockJS client on the server's own origin, so its
// requests pass the Origin check whoever embeds it: frame-ancestors is what
// keeps other sites from using it. Generic security middleware that sets
// X-Frame-Options: DENY (or SAMEORIGIN, for cross-origin pages) or its own
// "frame-ancestors 'none'" breaks SockJS's iframe transports: browsers
// without frame-ancestors support obey X-Frame-Options, and every CSP
// header present is enforced. Exempt the iframe page from such middleware.
func (p *Policy) FrameAncestors() string {
	switch {
	case p.disabled:
		return ""
	case p.anyOrigin:
		return "*"
	}
	parts := []string{"'self'"}
	for _, o := range p.exactList {
		if cspHost(o.host) {
			parts = append(parts, o.String())
		}
	}
	for _, pt := range p.patterns {
		if s, ok := pt.cspSource(); ok {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}
