// Package sockjsgo runs handlers written for github.com/igm/sockjs-go/v3 on
// Sockline: migrating is changing the import path, nothing else.
//
//	import "github.com/igm/sockjs-go/v3/sockjs"
//
// becomes
//
//	import sockjs "github.com/sockline/sockline/compat/sockjsgo"
//
// and the rest of the program (sockjs.NewHandler(prefix, opts, handler),
// sockjs.DefaultOptions, a handler func(sockjs.Session) using ID, Recv,
// RecvCtx, Send, Close, Request, GetSessionState, ReceiverType and
// Context, comparisons with sockjs.SessionActive or
// sockjs.ErrSessionNotOpen) compiles and runs as before.
//
// Options, SessionState, ReceiverType and ErrSessionNotOpen are sockjs-go's
// own (aliases), so that options literals and comparisons are the same
// values. Session is an interface with the method set of sockjs-go's
// Session struct: sockjs-go v3.0.3's Session is a struct, so no other type
// can be one, but code that takes this interface runs on both servers.
//
// # What differs, and why
//
//   - Origins. sockjs-go answers CORS requests from every origin (the
//     request's Origin echoed, with credentials) unless Options.Origin or
//     CheckOrigin says otherwise, and leaves websocket origins to
//     WebsocketUpgrader (same-origin by default). Sockline's default is
//     same-origin everywhere (and clients without an Origin), which stops
//     other sites from driving a session with the user's cookies. Options.Origin
//     "*" maps to AllowAnyOrigin, any other Origin to AllowedOrigins, and
//     CheckOrigin to Sockline's CheckOrigin (which widens the same-origin
//     default). jsonp, which cannot carry an origin check, is refused while
//     origins are restricted (sockjs-go serves it).
//   - Limits. Sockline bounds what sockjs-go leaves unbounded: 1 MiB per
//     message or request body from a client, 8 MiB queued for a slow client
//     (which is then disconnected with 1008), 1 MiB received and not yet
//     read, and a 10 s write timeout (sockjs-go: WebsocketWriteTimeout,
//     zero meaning none). Use NewHandlerWith to change them.
//   - WebsocketUpgrader is not used (Sockline has its own upgrader; its
//     compression and buffer settings do not carry over).
//   - Zero durations mean the defaults (25 s heartbeat, 5 s disconnect
//     delay); in sockjs-go zero means zero. Options{} has Websocket false,
//     as in sockjs-go: start from DefaultOptions.
//   - Request returns the request that created the session; sockjs-go
//     returns the latest request of the session.
//   - ReceiverType is the transport that opened the session; sockjs-go
//     reports the receiver attached at the moment.
//   - GetSessionState is SessionActive while the session is open and
//     SessionClosed after; Sockline starts the handler when the session
//     opens, so SessionOpening is never seen, and it has no separate
//     closing state.
//   - When the handler returns, the session stays open until the client
//     leaves or Close is called, as in sockjs-go (a native Sockline handler
//     closes its session on return).
package sockjsgo
