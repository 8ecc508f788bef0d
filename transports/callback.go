package transports

import "net/http"

// validCallback reports whether name may be used as the JavaScript callback
// of the htmlfile and jsonp transports: 1 to 256 ASCII letters, digits,
// '_', '.' and '-', and nothing else. sockjs-client sends names like
// "_jp.a1b2c3". This is sockjs-node's rule (it refuses a name matching
// /[^a-zA-Z0-9-_.]/), so any client it serves works here too.
//
// None of these characters can end the callback expression, open markup,
// start a comment or a string, so a response that echoes the name is inert
// whatever the name is; a '-' can at most turn "a-b" into a subtraction,
// which only the embedding page (who chose the name) could want.
func validCallback(name string) bool {
	if name == "" || len(name) > maxCallbackLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// maxCallbackLen bounds the callback name, which every jsonp frame repeats
// (sockjs-client's names are about a dozen bytes).
const maxCallbackLen = 256

// callbackName returns the request's callback parameter "c".
func callbackName(r *http.Request) string { return r.URL.Query().Get("c") }

// checkCallback answers the protocol's 500s for a missing or invalid
// callback parameter. Transports that echo a callback run it before any
// session is looked up or created.
func checkCallback(w http.ResponseWriter, r *http.Request) bool {
	switch name := callbackName(r); {
	case name == "":
		plainError(w, `"callback" parameter required`, http.StatusInternalServerError)
		return false
	case !validCallback(name):
		plainError(w, `invalid "callback" parameter`, http.StatusInternalServerError)
		return false
	}
	return true
}
