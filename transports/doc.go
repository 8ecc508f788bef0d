// Package transports turns HTTP requests and WebSocket connections into
// session calls. Each file is one transport and knows only its own framing:
// a newline after each frame (xhr), an event-stream record (eventsource),
// a <script> chunk (htmlfile), a callback call (jsonp), a WebSocket text
// message (websocket). Session semantics live in package session.
//
// # Concurrency contract
//
// A receiving request's own goroutine (the one net/http runs the handler on)
// is the only writer of its response: it attaches to the session, loops on
// Receiver.Next, and writes each frame with a write deadline, then flushes.
// A WebSocket connection has one writer (the handler goroutine) and one
// reader goroutine, which delivers messages and ends with the connection.
// Sending requests (xhr_send, jsonp_send) only call Session.Deliver.
//
// # Client-disconnect detection
//
//   - streaming and polling: the request's context ends when the client
//     closes the connection, and a write that fails or passes
//     Config.WriteTimeout ends the response; either way the receiver is
//     detached at once and the session closed with 1002 "Connection
//     interrupted", as the protocol requires.
//   - websocket: every frame read renews a read deadline of the heartbeat
//     delay plus Config.PongTimeout, and a WebSocket ping goes with every
//     heartbeat, so a peer that vanished (a half-open TCP connection) is
//     found within one heartbeat delay plus the pong timeout.
//
// The package is internal to the project in spirit: applications use
// package sockjs, which routes requests here.
package transports
