package cors

import (
	"net/http"
	"strings"
	"time"
)

// Header names written by this package.
const (
	hAllowOrigin      = "Access-Control-Allow-Origin"
	hAllowCredentials = "Access-Control-Allow-Credentials"
	hAllowMethods     = "Access-Control-Allow-Methods"
	hAllowHeaders     = "Access-Control-Allow-Headers"
	hMaxAge           = "Access-Control-Max-Age"
	hRequestHeaders   = "Access-Control-Request-Headers"
)

// preflightMaxAge is how long, in seconds, browsers and caches may keep a
// preflight answer: one year, as the SockJS protocol asks.
const (
	preflightMaxAge    = 31536000
	preflightMaxAgeStr = "31536000"
)

// refusedBody is the whole body of a refusal.
const refusedBody = "Origin not allowed."

// Apply checks r with [Policy.Check], writes the CORS response headers and
// reports whether the request may proceed. It must be called before the
// response header is written.
//
//   - Allowed, with an Origin: "Access-Control-Allow-Origin" is the
//     request's exact Origin value ("null" for null) and
//     "Access-Control-Allow-Credentials: true" lets cookies through
//     (JSESSIONID for sticky sessions, the application's own).
//   - Allowed, without an Origin: "Access-Control-Allow-Origin: *" and no
//     credentials header; no browser enforces CORS on such a request.
//   - Refused: a 403 with the plain-text body "Origin not allowed.\n"; Apply
//     returns false and the caller must not write anything more.
//   - Disabled: nothing is written and Apply returns true.
//
// Except when Disabled, "Origin" is added to the Vary header (once, and
// other Vary values are kept), refusals included, so that caches keep
// answers for different origins apart.
func (p *Policy) Apply(w http.ResponseWriter, r *http.Request) bool {
	if p.disabled {
		return true
	}
	d := p.Check(r)
	h := w.Header()
	addVary(h, "Origin")
	if !d.Allowed {
		http.Error(w, refusedBody, http.StatusForbidden)
		return false
	}
	if d.Origin == "" {
		h.Set(hAllowOrigin, "*")
		return true
	}
	h.Set(hAllowOrigin, d.Origin)
	h.Set(hAllowCredentials, "true")
	return true
}

// Preflight answers an OPTIONS request to an endpoint that allows methods
// (a list such as "OPTIONS, POST"). It calls [Policy.Apply]; when that
// refuses, the answer is its 403. Otherwise it writes a 204 without body,
// with "Access-Control-Allow-Methods: methods", the request's
// Access-Control-Request-Headers echoed in "Access-Control-Allow-Headers"
// (when present and a valid list of header names), and caching for one
// year: "Access-Control-Max-Age: 31536000", "Cache-Control: public,
// max-age=31536000" and Expires a year ahead. When Disabled, only the 204
// and the caching headers are written, no Access-Control-* header.
func (p *Policy) Preflight(w http.ResponseWriter, r *http.Request, methods string) {
	if !p.Apply(w, r) {
		return
	}
	h := w.Header()
	if !p.disabled {
		h.Set(hAllowMethods, methods)
		p.AllowRequestHeaders(w, r)
		h.Set(hMaxAge, preflightMaxAgeStr)
	}
	h.Set("Cache-Control", "public, max-age="+preflightMaxAgeStr)
	h.Set("Expires", time.Now().Add(preflightMaxAge*time.Second).UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusNoContent)
}

// AllowRequestHeaders echoes the request's Access-Control-Request-Headers
// in "Access-Control-Allow-Headers" (and adds it to Vary) when it is a
// valid list of header names, as [Policy.Preflight] does; anything else,
// which no browser sends, is not echoed, so a response never carries bytes
// of the requester's choosing there. It writes nothing when Disabled.
func (p *Policy) AllowRequestHeaders(w http.ResponseWriter, r *http.Request) {
	if p.disabled {
		return
	}
	if req := strings.Join(r.Header.Values(hRequestHeaders), ", "); req != "" && isTokenList(req) {
		h := w.Header()
		h.Set(hAllowHeaders, req)
		addVary(h, hRequestHeaders)
	}
}

// addVary adds name to the Vary header unless it, or "*", is already there.
func addVary(h http.Header, name string) {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, name) {
				return
			}
		}
	}
	h.Add("Vary", name)
}

// isTokenList reports whether s is a comma-separated list of HTTP tokens
// (header names), optional whitespace included. Anything else is not echoed.
func isTokenList(s string) bool {
	if len(s) > 4096 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ',' || c == ' ' || c == '\t' || isTokenByte(c) {
			continue
		}
		return false
	}
	return true
}

// isTokenByte reports whether c is an RFC 9110 tchar.
func isTokenByte(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
