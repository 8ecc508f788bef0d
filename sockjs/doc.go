// Package sockjs is Sockline's public API: a SockJS server to mount on
// chi or net/http.
//
// A browser running sockjs-client gets a WebSocket-like object that falls
// back to HTTP streaming and polling where WebSocket cannot pass. NewHandler
// returns an http.Handler serving every endpoint of SockJS protocol 0.3.3
// under one prefix, and runs the application's HandlerFunc once per session:
// one ordered, bidirectional message channel per client, whatever transport
// carries it and however often the underlying requests change.
//
// # Concurrency contract
//
//   - The HandlerFunc runs in its own goroutine per session, with a context
//     cancelled when the session closes; when it returns, the session is
//     closed (3000 "Go away!") if it is still open.
//   - Session.Send, Session.SendMessage, Session.Close and Handler.Broadcast
//     are safe from any goroutine and never wait for the network: messages
//     are queued (bounded by Options.MaxQueuedBytes) and the connection's
//     writer writes them, everything pending batched in one frame (a
//     websocket starts its writer only when there is something to write,
//     so an idle one holds just its reading goroutine).
//   - Session.Recv returns messages in the order the client sent them.
//   - No lock is held while the network or the application is waited on.
//
// # Shutdown
//
// Call Handler.Shutdown before http.Server.Shutdown (or from
// http.Server.RegisterOnShutdown), not after: Server.Shutdown waits for
// active responses, which end only when their sessions close, and ignores
// websockets. Handler.Shutdown closes every session with 1001 "Server is
// shutting down", waits until each receiving connection has been sent its
// close frame and ended and every HandlerFunc has returned, or ctx ends.
//
// # The application's view
//
//   - Session.Request is the request that created the session, fixed at
//     creation (later requests of the session change nothing); the
//     session's context carries its context's values (see Session).
//   - Options.Authorize refuses sessions before they exist, on every
//     transport and websocket handshake (401 or 403); Options.CheckOrigin
//     widens the origin lists.
//   - Options.Events hears sessions, messages, 2010 answers, heartbeats
//     and refusals (package metrics/prometheus exports them); per-session
//     events are logged at Debug level through Options.Logger.
//   - Close codes (CloseNormal ... CloseGoAway; applications use
//     4000-4999), Session.SendJSON and RecvJSON, Session.Set and Get,
//     Handler.Range and Handler.Len.
//   - Websocket options: permessage-deflate with a size threshold, buffer
//     sizes and pool, subprotocols (Session.Subprotocol).
//
// # Security defaults
//
// Only same-origin pages (and clients that send no Origin header) may use
// the handler until origins are allowed in Options; see Options and the
// README's "Deploying behind proxies" for origins, jsonp, the iframe page,
// cookies and timeouts.
//
// # Deviations from the protocol test suite 0.3.3
//
//   - Never-cached responses carry "Cache-Control: no-store, no-cache,
//     no-transform, must-revalidate, max-age=0" (sockjs-node's current value;
//     the suite predates no-transform).
//   - CORS: a request without Origin gets "Access-Control-Allow-Origin: *"
//     without credentials (browsers refuse credentials with "*"); an allowed
//     origin is echoed with credentials; "Origin: null" is refused unless
//     allowed, then answered "null", never "*".
//   - Websocket sessions are not kept in the session registry, so two
//     websockets may use the same session id, as the suite expects.
//   - jsonp responses start with "/**/" ("/**/callback(...);"), a guard
//     against content sniffing (Rosetta Flash) that the suite's exact
//     body comparisons do not expect; htmlfile and jsonp also escape <, >,
//     & and ' in frames, so no message can break out of its script. See
//     package transports.
//   - Server and session ids longer than MaxIDLength (128 bytes) are
//     answered 404 like other malformed session URLs; the suite's ids are
//     short, and sockjs-client's are 3 and 8 characters.
package sockjs
