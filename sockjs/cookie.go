package sockjs

import (
	"net/http"

	"github.com/sockline/sockline/cors"
)

// setCookie runs the cookie logic on a transport response: Options.CookieFunc
// when set, else the JSESSIONID cookie when Options.JSessionID is on.
//
// The JSESSIONID cookie exists for load balancers that keep a client on one
// server by a cookie (sticky sessions): every transport response sets it,
// keeping the value the client sent, or "dummy" that the balancer rewrites.
func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request) {
	switch {
	case h.opts.CookieFunc != nil:
		h.opts.CookieFunc(w, r)
	case h.opts.JSessionID:
		value := "dummy"
		if c, err := r.Cookie("JSESSIONID"); err == nil && c.Value != "" {
			value = c.Value
		}
		c := &http.Cookie{Name: "JSESSIONID", Value: value, Path: "/"}
		if isSecure(r) {
			// Pages on another site send the cookie only with SameSite=None,
			// which browsers accept only on secure cookies.
			c.SameSite, c.Secure = http.SameSiteNoneMode, true
		}
		http.SetCookie(w, c)
	}
}

// cookieNeeded is what /info tells clients: whether they must send cookies
// (sockjs-client then avoids the transports that cannot).
func (h *Handler) cookieNeeded() bool { return h.opts.JSessionID || h.opts.CookieFunc != nil }

// isSecure reports whether the client reached us over HTTPS, by the rule
// the origin policy uses (a proxy's "X-Forwarded-Proto: https, http"
// counts as https).
func isSecure(r *http.Request) bool { return cors.RequestScheme(r) == "https" }
