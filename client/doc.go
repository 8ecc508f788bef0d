// Package client is a SockJS client for Go: it speaks to any SockJS
// server (Sockline, sockjs-node, Spring, sockjs-go) over websocket,
// xhr-streaming, eventsource or xhr-polling, the transports of
// sockjs-client 1.x that need no browser, with sockjs-client's names,
// order and fallback.
//
//	c, err := client.Dial(ctx, "https://example.com/echo", nil)
//	if err != nil { ... }
//	defer c.Close(1000, "bye")
//	c.Send("hello")
//	msg, err := c.Recv(ctx)
//
// # Concurrency contract
//
//   - Each Conn has one reader goroutine (reading frames from the
//     websocket, or the stream or poll in flight, and reopening it when the
//     server ends it at its response limit) and one sender goroutine. Both
//     end when the session ends: Close, a close frame from the server, a
//     transport failure or a silent server. Close waits for them.
//   - Send, Recv, Flush and Close are safe from any goroutine. Send never
//     waits for the network: it queues, and the sender delivers everything
//     queued in one xhr_send request or websocket message while the previous
//     one is in flight, as sockjs-client does.
//   - Every call that waits takes a context (Dial, Recv, Flush); Close is
//     bounded by the transport (a websocket close frame gets one second).
//   - Heartbeats need no answer; every frame, heartbeat or websocket ping
//     counts as a sign of life, and a server silent for
//     Options.HeartbeatTimeout ends the session with ErrTimeout.
//
// # Errors
//
// Every error that ends a session is a *CloseError with the close code and
// reason; errors.Is tells the cause: ErrServerClosed (a close frame from
// the server), ErrClosed (Close on this side), ErrTransport, ErrTimeout.
//
// # Differences from sockjs-client
//
//   - The transports that exist only for old browsers (xdr-*, htmlfile,
//     iframe-*, jsonp-polling) are not implemented.
//   - The open timeout has a floor of DefaultMinOpenTimeout (see
//     Options.OpenTimeout).
//   - Sends are not delayed by sockjs-client's 25 ms between two
//     xhr_send requests, a browser work-around; batches are capped at 256 KiB
//     so that they fit servers' body limits.
//   - Over websocket several queued messages go in one message, as they do
//     over xhr_send (sockjs-client sends one message per websocket
//     message); every SockJS server accepts an array there.
//   - Close sends its code and reason in the websocket close frame.
//   - Close with a code other than 1000 or 3000-4999 closes with 1000 and
//     returns an error; sockjs-client throws and leaves the session open.
//   - A close frame before the open frame makes Dial try the next
//     transport unless its code is 1000, 2000 or 3000-4999, the rule
//     sockjs-client applies to a transport that closes before it opened;
//     sockjs-client 1.6 ends on any close frame before the open frame.
//   - Options.Transports is tried in the order given; sockjs-client's
//     transports option only filters its own fixed order.
package client
