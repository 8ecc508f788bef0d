// Package session implements one SockJS session: a logical, ordered,
// bidirectional message channel that outlives the HTTP requests carrying it.
//
// # Lifecycle
//
// A session is created by the first request naming its id. It is
// connecting until a receiver takes the open frame "o", open after that,
// closing once Close is called (the close frame is queued behind pending
// messages), and closed once the close frame has been handed to a receiver.
// A closed session stays known for the disconnect delay so that every later
// request for it gets the same close frame again; then the owner is told to
// forget it (Config.OnExpire). A session that has had no receiver for the
// disconnect delay expires the same way, closed with [ErrTimedOut]. The
// delay runs from the end of the last receiver's last write: a polling
// receiver frees the session for the next poll as soon as it has taken its
// frame ([Receiver.NextAndDetach]), but the delay starts only at
// [Receiver.Detach], once that frame is written, so a slow write never
// outlasts its own session.
//
// # Concurrency contract
//
//   - Send, SendQuoted and Close are safe from any number of goroutines and
//     never wait for the network: they queue bytes and wake the receiver.
//   - Recv is meant for the application's one reading goroutine; concurrent
//     callers are safe but share the messages between them.
//   - Inbound messages are bounded by Config.MaxInboxBytes. A websocket's
//     reader calls Deliver and waits while the inbox is full. HTTP sends
//     call BeginSend, which admits one send at a time per session and
//     reserves room before the body is read, then [Send.Deliver], which
//     appends all of the send's messages at once or none; waiting for the
//     application longer than Config.SendTimeout closes the session with
//     [ErrSendTimeout]. So one session holds at most its inbox plus one
//     send in hand, whatever the client does.
//   - At most one receiver is attached at a time ([Session.Attach] returns
//     [ErrReceiverBusy] to a second one). The goroutine that attached it is
//     the only one that writes to its connection: it calls [Receiver.Next],
//     writes what it got, and detaches. A receiver attached with
//     [Session.AttachFunc] has no waiting goroutine: it is notified when a
//     frame may be ready and takes it with [Receiver.TryNext], from one
//     goroutine at a time.
//   - The session's mutex guards state changes only; no lock is held while
//     the network, the application or the scheduler is waited on.
//   - Timers (heartbeats and expiry) come from a shared [Scheduler]: each
//     session owns at most one pending timer and re-checks its deadlines
//     lazily when it fires, so a message sent does not touch the timer.
//
// This package knows nothing of HTTP or WebSocket; transports own that.
package session
