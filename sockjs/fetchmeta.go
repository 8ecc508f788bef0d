package sockjs

import "net/http"

// allowFetch applies the fetch-metadata rule (cors.Policy.CheckFetchMetadata,
// SECURITY.md) to a request for a session endpoint: a cross-site page making
// the browser load it without Origin gets 403 before any session exists.
// originless exempts endpoints opened to such requests on purpose (jsonp
// under AllowJSONP). A refusal is reported like a refused origin.
func (h *Handler) allowFetch(w http.ResponseWriter, r *http.Request, originless bool) bool {
	if h.policy.ApplyFetchMetadata(w, r, originless) {
		return true
	}
	if ev := h.opts.Events; ev != nil {
		ev.OriginRefused(r)
	}
	if h.debug() {
		h.opts.Logger.Debug("sockjs: cross-site request without Origin refused",
			"sec-fetch-site", r.Header.Get("Sec-Fetch-Site"), "path", r.URL.Path, "remote", r.RemoteAddr)
	}
	return false
}
