package sockjs

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/sockline/sockline/transports"
)

// route is one session endpoint: /{server}/{session}/{transport}.
type route struct {
	method    string // the one method it serves (OPTIONS aside)
	preflight bool   // answers CORS preflight (the endpoints XHR reaches)
	serve     func(c *transports.Config, s transports.Sessions, w http.ResponseWriter, r *http.Request, id string)
}

var routes = map[string]route{
	transports.NameXHR:          {http.MethodPost, true, (*transports.Config).XHRPolling},
	transports.NameXHRSend:      {http.MethodPost, true, (*transports.Config).XHRSend},
	transports.NameXHRStreaming: {http.MethodPost, true, (*transports.Config).XHRStreaming},
	transports.NameWebSocket:    {http.MethodGet, false, (*transports.Config).WebSocket},
	transports.NameEventSource:  {http.MethodGet, false, (*transports.Config).EventSource},
	transports.NameHTMLFile:     {http.MethodGet, false, (*transports.Config).HTMLFile},
	transports.NameJSONP:        {http.MethodGet, false, (*transports.Config).JSONP},
	transports.NameJSONPSend:    {http.MethodPost, false, (*transports.Config).JSONPSend},
}

// ServeHTTP routes a request to the SockJS endpoint its path names.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := h.relativePath(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch path {
	case "", "/":
		h.greeting(w, r)
		return
	case "/info":
		h.info(w, r)
		return
	case "/websocket":
		h.rawWebSocket(w, r)
		return
	}
	if transports.IsIframePath(path) {
		h.iframe.ServeHTTP(w, r) // no cookie, no CORS: a page, not an API
		return
	}
	server, id, name, ok := splitSessionPath(path)
	rt, known := routes[name]
	if !ok || !known || server == "" || !h.enabled(name) {
		http.NotFound(w, r)
		return
	}
	// In a cluster, a request for a session of another node is still
	// carried while this one drains (cluster.serve decides).
	if h.shuttingDown() && h.wouldCreate(name, id) && (h.cl == nil || name == transports.NameWebSocket) {
		unavailable(w)
		return
	}
	if h.jsonpRefused(name) {
		refuse(w, "JSONP not allowed.")
		return
	}
	// Fetch metadata refuses what Origin cannot: a cross-site page making
	// the browser load this URL without Origin (SECURITY.md).
	jsonp := name == transports.NameJSONP || name == transports.NameJSONPSend
	if !h.allowFetch(w, r, jsonp && h.opts.AllowJSONP) {
		return
	}
	if r.Method == http.MethodOptions && rt.preflight {
		h.policy.Preflight(w, r, "OPTIONS, POST")
		return
	}
	if r.Method != rt.method {
		methodNotAllowed(w, rt)
		return
	}
	if !h.allowOrigin(w, r) {
		return
	}
	h.reflectRequestHeaders(w, r)
	h.setCookie(w, r)
	if h.cl != nil && name != transports.NameWebSocket {
		h.cl.serve(rt, w, r, name, id) // websockets stay on their node
		return
	}
	h.serveSession(rt, w, r, name, id)
}

// serveSession serves a session request on this node; a request that
// would create a session must pass the session limits and Authorize.
func (h *Handler) serveSession(rt route, w http.ResponseWriter, r *http.Request, name, id string) {
	serve := func(r *http.Request) {
		h.requests.Add(1) // Shutdown waits for it
		defer h.requests.Done()
		rt.serve(&h.tcfg, h, w, r, id)
	}
	if h.wouldCreate(name, id) {
		h.admitted(w, r, func(r *http.Request) {
			if h.opts.Authorize != nil {
				var ok bool
				if r, ok = h.authorize(w, r, name); !ok {
					return
				}
			}
			serve(r)
		})
		return
	}
	serve(r)
}

// relativePath returns the request path below the handler's prefix: from
// Options.Prefix, else from chi's routing context (Mount), else the URL path
// as it is (http.StripPrefix).
func (h *Handler) relativePath(r *http.Request) (string, bool) {
	if h.opts.Prefix != "" {
		rest, ok := strings.CutPrefix(r.URL.Path, h.opts.Prefix)
		if !ok || (rest != "" && rest[0] != '/') {
			return "", false
		}
		return rest, true
	}
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
		return rctx.RoutePath, true
	}
	return r.URL.Path, true
}

// splitSessionPath splits "/{server}/{session}/{transport}". Ids must be
// non-empty and free of dots, as the protocol requires, and at most
// MaxIDLength bytes.
func splitSessionPath(p string) (server, id, transport string, ok bool) {
	parts := strings.Split(p, "/")
	if len(parts) != 4 || parts[0] != "" {
		return "", "", "", false
	}
	server, id, transport = parts[1], parts[2], parts[3]
	if server == "" || id == "" || strings.Contains(server, ".") || strings.Contains(id, ".") ||
		!validID(server) || !validID(id) {
		return "", "", "", false
	}
	return server, id, transport, true
}

// enabled reports whether the options leave a session endpoint on.
// xhr_send serves every transport that has no sending channel of its own.
func (h *Handler) enabled(transport string) bool {
	o := &h.opts
	switch transport {
	case transports.NameWebSocket:
		return !o.DisableWebSocket
	case transports.NameXHR:
		return !o.DisableXHR
	case transports.NameXHRStreaming:
		return !o.DisableXHRStreaming
	case transports.NameEventSource:
		return !o.DisableEventSource
	case transports.NameHTMLFile:
		return !o.DisableHTMLFile
	case transports.NameJSONP, transports.NameJSONPSend:
		return !o.DisableJSONP
	case transports.NameXHRSend:
		return !(o.DisableXHR && o.DisableXHRStreaming && o.DisableEventSource && o.DisableHTMLFile)
	}
	return true
}

// jsonpRefused reports whether the jsonp endpoints are refused by the
// origin policy. A jsonp response is a script any page can load with the
// user's cookies, and that request carries no Origin to check, so with
// restricted origins they need Options.AllowJSONP.
func (h *Handler) jsonpRefused(transport string) bool {
	return (transport == transports.NameJSONP || transport == transports.NameJSONPSend) &&
		h.policy.Restricted() && !h.opts.AllowJSONP
}

// refuse answers 403 with a short text.
// wouldCreate reports whether a request to the named transport would create
// a session: a receiving transport for an unknown id, or any websocket.
func (h *Handler) wouldCreate(transport, id string) bool {
	switch transport {
	case transports.NameXHRSend, transports.NameJSONPSend:
		return false
	case transports.NameWebSocket:
		return true
	}
	_, ok := h.registry.Load(id)
	return !ok
}

// unavailable answers a request for a new session once Shutdown has begun;
// existing sessions still get their close frames.
func unavailable(w http.ResponseWriter) { retryLater(w, "5", "Server is shutting down.") }

// retryLater answers 503 with Retry-After (seconds) and a short text.
func retryLater(w http.ResponseWriter, seconds, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=UTF-8")
	hd.Set("Retry-After", seconds)
	transports.NoCache(hd)
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(msg))
}

func refuse(w http.ResponseWriter, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=UTF-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	transports.NoCache(hd)
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(msg))
}

// rawWebSocket serves {prefix}/websocket when Options.RawWebSocket is on
// (and websockets are not disabled).
func (h *Handler) rawWebSocket(w http.ResponseWriter, r *http.Request) {
	if !h.opts.RawWebSocket || h.opts.DisableWebSocket {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		methodNotAllowed(w, route{method: http.MethodGet})
		return
	}
	if h.shuttingDown() {
		unavailable(w)
		return
	}
	if !h.allowFetch(w, r, false) {
		return
	}
	if !h.allowOrigin(w, r) {
		return
	}
	h.setCookie(w, r)
	h.admitted(w, r, func(r *http.Request) {
		if h.opts.Authorize != nil {
			var ok bool
			if r, ok = h.authorize(w, r, transports.NameRawWebSocket); !ok {
				return
			}
		}
		h.requests.Add(1) // Shutdown waits for it
		defer h.requests.Done()
		h.tcfg.RawWebSocket(h, w, r)
	})
}

// methodNotAllowed answers 405 with Allow, no body and no Content-Type.
func methodNotAllowed(w http.ResponseWriter, rt route) {
	allow := rt.method
	if rt.preflight {
		allow = "OPTIONS, " + allow
	}
	w.Header().Set("Allow", allow)
	w.WriteHeader(http.StatusMethodNotAllowed)
}

// reflectRequestHeaders echoes Access-Control-Request-Headers on
// non-preflight answers too, as the protocol asks of xhr transports, when
// it is a list of header names (see cors.Policy.AllowRequestHeaders).
func (h *Handler) reflectRequestHeaders(w http.ResponseWriter, r *http.Request) {
	h.policy.AllowRequestHeaders(w, r)
}

const greetingText = "Welcome to SockJS!\n"

func (h *Handler) greeting(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, route{method: http.MethodGet})
		return
	}
	if !h.allowOrigin(w, r) { // a refused origin gets 403 on every endpoint
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	_, _ = w.Write([]byte(greetingText))
}

// infoResponse is the body of /info.
type infoResponse struct {
	WebSocket    bool     `json:"websocket"`
	CookieNeeded bool     `json:"cookie_needed"`
	Origins      []string `json:"origins"`
	Entropy      uint32   `json:"entropy"`
}

func (h *Handler) info(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodOptions:
		h.policy.Preflight(w, r, "OPTIONS, GET")
		return
	case http.MethodGet:
	default:
		methodNotAllowed(w, route{method: http.MethodGet, preflight: true})
		return
	}
	if !h.allowOrigin(w, r) {
		return
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	body, _ := json.Marshal(infoResponse{
		WebSocket:    !h.opts.DisableWebSocket,
		CookieNeeded: h.cookieNeeded(),
		Origins:      []string{"*:*"},
		Entropy:      binary.BigEndian.Uint32(b[:]),
	})
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=UTF-8")
	transports.NoCache(hd)
	_, _ = w.Write(body)
}
