// Package transports turns HTTP requests and WebSocket connections into
// session calls. Each file is one transport and knows only its own framing:
// a newline after each frame (xhr), an event-stream record (eventsource),
// a <script> chunk (htmlfile), a callback call (jsonp), a WebSocket text
// message (websocket), or no framing at all (raw websocket). The polling
// and streaming transports share receive.go and differ only in a framing
// value; the sending ones share send.go. The iframe page (iframe.go) is
// the one endpoint that serves no session. Session semantics live in
// package session.
//
// # Deviations from the protocol test suite 0.3.3
//
//   - jsonp: every response is "/**/callback(...);\r\n" where the suite
//     expects "callback(...);\r\n". The empty comment keeps the response
//     from starting with bytes the requester chose (the callback name), so
//     that it cannot be made to pass for another content type, such as a
//     Flash file (the "Rosetta Flash" attack). sockjs-client and browsers
//     run it all the same; the suite's tests JsonPolling.* and
//     JsessionidCookie.test_jsonp compare bodies exactly and fail.
//   - htmlfile and jsonp: frames are written as JavaScript strings with
//     <, >, & and ' escaped as well (frame.AppendQuoteHTML), so no message
//     can end the <script> block or open a comment. sockjs-node wrote them
//     with plain JSON escaping, and a message holding "</script>" ran as
//     script in the server's origin. The suite's bodies have no such
//     characters and are unaffected.
//   - The callback name must be letters, digits, '_', '.' or '-'
//     (sockjs-node's rule; the suite never sends another).
//
// # Concurrency contract
//
// A receiving request's own goroutine (the one net/http runs the handler on)
// is the only writer of its response: it attaches to the session, loops on
// Receiver.Next, and writes each frame with a write deadline, then flushes.
// The exception is an HTTP/1.1 streaming response (xhr_streaming,
// eventsource, htmlfile): after its headers and prelude it goes on on the
// hijacked connection, as a websocket does, watching for the client
// leaving and with a writer only while frames are ready (see stream.go);
// HTTP/2 streams, and those whose hijack a middleware refuses, stay with
// net/http.
// A WebSocket connection outlives its handler, which returns after the
// handshake so that an idle connection keeps neither net/http's goroutine
// nor its buffers: its reader delivers messages and ends with the
// connection, and a writer goroutine runs only while there is something
// to write (the session notifies it through Session.AttachFunc; writers
// never overlap). See wsconn.go.
//
// # Idle connections hold no goroutine (linux)
//
// A hijacked plain TCP connection, websocket or stream, waits for its
// client in one epoll set shared by the process (poller_linux.go) instead
// of a reader goroutine parked on it; a goroutine reads only once the
// descriptor is readable (see wspoll.go), and a waiting websocket lends
// its read buffer out. A websocket that has just delivered a message keeps
// reading in its goroutine until its client has been quiet for 200-400 ms
// (wsactive.go): a busy connection does not pay a round through the poller
// per message. These keep a reader goroutine, as before: TLS
// connections (crypto/tls buffers records and must read to see them),
// websockets whose ResponseWriter gorilla cannot hijack directly or whose
// read buffer is 256 bytes or less, and every connection on systems other
// than linux. HTTP/2 streams and unhijacked responses stay with net/http,
// which holds the request's goroutine for the stream's life.
// Sending requests (xhr_send, jsonp_send) write only their own short
// answer: they take the session's send slot and reserve inbox room
// (Session.BeginSend) before reading their body, then deliver all of its
// messages at once (see send.go), so that parallel sends neither pile up
// bodies in memory nor interleave.
//
// # Client-disconnect detection
//
//   - streaming and polling: the request's context ends when the client
//     closes the connection, and a write that fails or passes
//     Config.WriteTimeout ends the response; either way the receiver is
//     detached at once and the session closed with 1002 "Connection
//     interrupted", as the protocol requires.
//   - websocket: a WebSocket ping goes out every Config.PingInterval (the
//     heartbeat delay by default, pinged also when heartbeats are off),
//     whatever else is sent (session.Receiver.EnablePings; the shared timer
//     wheel schedules it, no goroutine per connection), and every frame or
//     pong read renews a read deadline of the ping interval plus
//     Config.PongTimeout, so a peer that vanished (a half-open TCP
//     connection) is found within one interval plus the pong timeout. A
//     message past Config.MaxMessageBytes closes the session with 1009. The deadline is renewed after each message is delivered,
//     so a slow application is not taken for a silent client.
//
// The package is internal to the project in spirit: applications use
// package sockjs, which routes requests here.
package transports
