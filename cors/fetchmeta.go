package cors

import (
	"net/http"
	"strings"
)

// FetchSite is the value of the Sec-Fetch-Site request header (W3C Fetch
// Metadata): how the site that started a request relates to the request's
// target. Browsers send it on every request, navigations and subresource
// loads included, and pages cannot set or change it (it is a forbidden
// header name), so unlike Origin it is present where a cross-site page
// makes the browser load a URL by navigation, <iframe>, <img> or <script>.
type FetchSite uint8

// The values of [FetchSite].
const (
	// FetchSiteAbsent: no Sec-Fetch-Site header. Non-browser clients and
	// browsers older than fetch metadata (before Chrome 76, Firefox 90,
	// Safari 16.4) send none.
	FetchSiteAbsent FetchSite = iota
	// FetchSiteSameOrigin: "same-origin", started by a page of the target's
	// own origin.
	FetchSiteSameOrigin
	// FetchSiteSameSite: "same-site", started by another origin of the same
	// registrable domain (another subdomain, or another scheme or port).
	FetchSiteSameSite
	// FetchSiteCrossSite: "cross-site", started by a page of another site.
	FetchSiteCrossSite
	// FetchSiteNone: "none", started by the user (a typed URL, a bookmark).
	FetchSiteNone
	// FetchSiteInvalid: several Sec-Fetch-Site headers, or a value no
	// browser sends. Treated as cross-site, so a future value fails closed.
	FetchSiteInvalid
)

var fetchSiteNames = [...]string{
	FetchSiteAbsent:     "",
	FetchSiteSameOrigin: "same-origin",
	FetchSiteSameSite:   "same-site",
	FetchSiteCrossSite:  "cross-site",
	FetchSiteNone:       "none",
	FetchSiteInvalid:    "invalid",
}

// String returns the header value s stands for ("" when absent, "invalid"
// for FetchSiteInvalid).
func (s FetchSite) String() string {
	if int(s) < len(fetchSiteNames) {
		return fetchSiteNames[s]
	}
	return "invalid"
}

// ParseFetchSite reads the Sec-Fetch-Site header of h. The value is a
// structured-field token and is compared exactly (browsers send it in lower
// case), after trimming spaces and tabs; an empty header counts as absent.
func ParseFetchSite(h http.Header) FetchSite {
	vals := h.Values("Sec-Fetch-Site")
	switch {
	case len(vals) == 0:
		return FetchSiteAbsent
	case len(vals) > 1:
		return FetchSiteInvalid
	}
	switch strings.Trim(vals[0], " \t") {
	case "":
		return FetchSiteAbsent
	case "same-origin":
		return FetchSiteSameOrigin
	case "same-site":
		return FetchSiteSameSite
	case "cross-site":
		return FetchSiteCrossSite
	case "none":
		return FetchSiteNone
	}
	return FetchSiteInvalid
}

// CheckFetchMetadata decides whether r, a request to a session endpoint,
// may proceed as far as fetch metadata goes. It complements [Policy.Check],
// which cannot see requests that carry no Origin: a page of another site
// can make the victim's browser load a session URL (htmlfile, eventsource,
// xhr, jsonp) by navigation, <iframe>, <img> or <script>, without Origin and
// with the victim's cookies, and so open a session whose id the attacker
// chose and can then drive from its own server. The rules, in order:
//
//   - Disabled or AllowAnyOrigin: allowed (every site may connect anyway).
//   - originless (the caller opened this endpoint to requests without
//     Origin on purpose, as the handler does for jsonp under AllowJSONP):
//     allowed.
//   - An Origin header is present (even "null" or several): allowed here;
//     Policy.Check decides.
//   - No Origin, and Sec-Fetch-Site absent, "same-origin" or "none":
//     allowed. Absent means a non-browser client or an old browser; "none"
//     is the user typing the URL.
//   - No Origin, and Sec-Fetch-Site "cross-site", "same-site" or a value
//     browsers never send: refused.
//
// "same-site" is refused too, even when every origin of the site is in
// AllowedOrigins: without Origin the request does not say which origin of
// the site sent it, so an allowed sibling cannot be told from a
// compromised or user-content subdomain. sockjs-client never needs it:
// its cross-origin XHR, EventSource and WebSocket requests all carry
// Origin, and htmlfile is only used same-origin or inside the iframe page.
func (p *Policy) CheckFetchMetadata(r *http.Request, originless bool) bool {
	if !p.Restricted() || originless {
		return true
	}
	if hasOrigin(r.Header) {
		return true
	}
	switch ParseFetchSite(r.Header) {
	case FetchSiteAbsent, FetchSiteSameOrigin, FetchSiteNone:
		return true
	}
	return false
}

// refusedFetchBody is the whole body of a fetch-metadata refusal.
const refusedFetchBody = "Cross-site request without Origin not allowed."

// ApplyFetchMetadata checks r with [Policy.CheckFetchMetadata]. When the
// decision depended on Sec-Fetch-Site (origins restricted, no Origin),
// "Sec-Fetch-Site" is added to Vary. A refused request is answered 403 with
// a plain-text body and ApplyFetchMetadata returns false: the caller must
// write nothing more and, above all, must not create a session. It must be
// called before the response header is written, and is meant for session
// endpoints only, not for /info, the greeting or the iframe page, which
// grant nothing and which browsers load cross-site legitimately.
func (p *Policy) ApplyFetchMetadata(w http.ResponseWriter, r *http.Request, originless bool) bool {
	if !p.Restricted() || originless {
		return true
	}
	if hasOrigin(r.Header) {
		return true
	}
	addVary(w.Header(), "Sec-Fetch-Site")
	if p.CheckFetchMetadata(r, originless) {
		return true
	}
	http.Error(w, refusedFetchBody, http.StatusForbidden)
	return false
}

// hasOrigin reports whether h carries an Origin header that Policy.Check
// looks at: any but a single empty one.
func hasOrigin(h http.Header) bool {
	vals := h.Values("Origin")
	return len(vals) > 1 || len(vals) == 1 && vals[0] != ""
}
