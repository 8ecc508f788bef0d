// Package cors is the origin policy shared by every SockJS endpoint: which
// web pages may talk to the server, the CORS response headers and preflight
// answers that tell browsers so, the Origin check of the WebSocket
// handshake, and the frame-ancestors rule of the iframe page.
//
// Build a [Policy] once with [New] from a [Config]; it is immutable and safe
// for concurrent use. Per request, [Policy.Apply] (or [Policy.Preflight] for
// OPTIONS) writes the headers or a 403; [Policy.CheckWebSocketOrigin] plugs
// into gorilla/websocket's Upgrader.CheckOrigin.
//
// # Default: same origin only
//
// A SockJS connection usually carries ambient credentials: the cookies of
// the site it talks to. If any page could open one, a hostile page visited
// by a logged-in user could act and read as that user; for WebSocket, which
// browsers do not subject to CORS at all, this is cross-site WebSocket
// hijacking. So the zero Config allows only pages of the server's own
// origin, plus requests without an Origin header (non-browser clients,
// which an origin check cannot stop anyway; browsers send Origin on every
// CORS request and every WebSocket handshake). Other pages must be
// listed, exactly ([Config.AllowedOrigins]) or by pattern
// ([Config.AllowedOriginPatterns]); allowing every origin takes the explicit
// [Config.AllowAnyOrigin]. See [Policy.Check] for the exact rules and for how
// "same origin" is decided behind proxies.
//
// # Origins and patterns
//
// An origin is written scheme://host[:port] and compared after
// normalisation: scheme and host lowercased, the scheme's default port
// (80 for http, 443 for https) dropped, IPv6 literals (in brackets) in
// canonical form. Only http and https are accepted. ws:// and wss:// are
// refused in the configuration with a hint, because they never appear in
// an Origin header: a WebSocket handshake carries the origin of the page
// that opened it, which is http or https. Configured values must not have a
// path (not even a trailing "/"), query, fragment or user@, and host names
// must be ASCII (punycode xn-- form for internationalised names, which is
// what browsers send). An Origin header that is not a valid http or https
// origin (an extension's chrome-extension://…, garbage) is refused unless
// AllowAnyOrigin is set.
//
// # Never "*" with credentials
//
// Browsers refuse a credentialed response whose Access-Control-Allow-Origin
// is "*", and SockJS clients send credentials so that cookies (JSESSIONID
// for sticky load balancing, the application's own session) flow. So an
// allowed request with an Origin is answered with that exact Origin value
// plus "Access-Control-Allow-Credentials: true" and "Vary: Origin", also
// under AllowAnyOrigin. "*" is only sent, without the credentials header,
// to requests that carry no Origin, where no browser enforces CORS; the
// current SockJS protocol test suite expects exactly that.
//
// # Origin: null
//
// Sandboxed iframes, file:// pages, data: URLs and some cross-origin
// redirects send "Origin: null". Any site can produce it, simply by
// sandboxing an iframe of its own, so allowing "null" is close to allowing
// everyone, and it is refused by default. [Config.AllowNullOrigin] opts in
// (for an Electron or file:// client, say); the answer is then
// "Access-Control-Allow-Origin: null" with credentials, never "*": a
// wildcard would not work with credentials, and the explicit value keeps
// the decision visible. (Old SockJS servers answered "null" with "*".)
//
// # Transports that need extra care
//
// JSONP polling is fetched by a <script> tag: the browser sends no Origin
// and no CORS check applies, yet the request carries the user's cookies and
// the script it loads runs in, and so is readable by, the embedding page.
// Its companion jsonp_send is a hidden form POST, whose Origin older
// browsers leave out. An origin policy cannot see who embedded them, so
// when origins are restricted ([Policy.Restricted]) the handler refuses the
// JSONP transports unless the application enables them explicitly,
// accepting that any page can use them.
//
// The iframe page (iframe.html) runs the SockJS client on the server's own
// origin for transports that cannot go cross-origin, and talks to its
// parent page with postMessage. Its own requests are same-origin and pass
// the Origin check, so what protects it is who may frame it: serve it with
// Content-Security-Policy "frame-ancestors" from [Policy.FrameAncestors].
// X-Frame-Options: DENY added by other middleware breaks the iframe
// transports; see FrameAncestors for details.
//
// # Requests without Origin: fetch metadata
//
// A request without Origin is not always a program's. A page of another
// site can make the browser load any URL by navigation, <iframe>, <img> or
// <script>: no Origin is sent, the user's cookies are. For a SockJS
// session endpoint that opens a session whose id the attacker chose and
// can then drive from its own server. Browsers also send Sec-Fetch-Site,
// which pages cannot forge, so [Policy.ApplyFetchMetadata] (for session
// endpoints only) refuses a request with no Origin whose Sec-Fetch-Site is
// "cross-site" or "same-site" unless origins are unrestricted; requests
// without fetch metadata (programs, old browsers) are unaffected. See
// [Policy.CheckFetchMetadata].
//
// # Leaving it to the application
//
// [Config.Disabled] makes this package write no header and refuse nothing,
// for applications whose own CORS middleware already does the job. That
// middleware then also owns the defence of the WebSocket endpoint against
// cross-site hijacking.
package cors
