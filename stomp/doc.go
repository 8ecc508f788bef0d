// Package stomp speaks STOMP 1.2 (with 1.1 and 1.0 clients accepted) over
// Sockline sessions, the messaging layer most SockJS applications use
// through @stomp/stompjs.
//
// # Codec
//
// [Decoder] reads frames from a stream that arrives in pieces, as it does
// over SockJS, where a message may carry several frames or part of one.
// [Append] and [Encode] write them. Header entries are escaped (\\ \n \r \c)
// in every frame except CONNECT and CONNECTED, as STOMP 1.2 says, and a
// content-length is always written for a non-empty body, so bodies may hold
// NUL bytes. The decoder is bounded: one frame and its header count are
// limited, and a frame past the limits is refused as soon as that is
// visible, so a hostile client cannot make the server buffer without bound.
//
// Over SockJS every message is text: a body must be UTF-8 to survive the
// trip (binary bodies need a plain websocket or an encoding such as
// base64).
//
// # Server and broker
//
// [Server] runs the protocol on each connection and holds the broker.
// [Server.ServeSession] is a sockjs.HandlerFunc; [Server.WebSocketHandler]
// serves plain websocket clients that negotiate v12.stomp, v11.stomp or
// v10.stomp. Destinations:
//
//   - /topic/{name}: every subscriber gets every message, in publish order.
//     Fan-out goes through a [pubsub.Bus], so with the cluster's bus it
//     reaches subscribers on every node.
//   - /queue/{name}: each message goes to exactly one subscriber, round
//     robin; messages wait (bounded) while there is none. Queues live on
//     the node that holds them, unless [Config.QueueStore] shares them
//     (package stomp/redisqueue: Redis Streams).
//   - /user/{rest}: SUBSCRIBE /user/queue/x subscribes to the connection's
//     user's own queue x; SEND /user/{name}/queue/x reaches every
//     connection of user name subscribed to /user/queue/x (on every node).
//   - /app/{...}: SENDs go to Go functions registered with [Server.Handle]
//     by pattern; they can [AppMessage.Reply] to the sender's own
//     subscriptions or [AppMessage.Publish] to any destination. SUBSCRIBEs
//     go to [Server.HandleSubscribe]'s, which answer that subscription
//     once, as Spring's @SubscribeMapping.
//
// The prefixes are configurable ([Config.AppPrefixes] ...). With
// [Config.Relay], topic, queue and user destinations go to an external
// STOMP broker ([BrokerRelay]) instead of the built-in one.
//
// Acknowledgement modes auto, client (cumulative) and client-individual are
// supported, with ACK and NACK; queue messages not acknowledged when their
// subscriber leaves (UNSUBSCRIBE, DISCONNECT, a dropped connection) or
// refused with NACK go back to the front of the queue. Transactions (BEGIN,
// COMMIT, ABORT) hold SEND, ACK and NACK frames until COMMIT. Every frame
// with a receipt header is answered with RECEIPT once processed: after the
// RECEIPT of a SUBSCRIBE, messages published to it reach it.
//
// Protocol errors end the connection, as STOMP requires: an ERROR frame
// with a message header (and receipt-id if the frame asked for a receipt),
// then close code [CloseProtocolError]. That covers malformed and oversized
// frames, a SEND without destination, unknown destinations and refusals by
// the hooks. Application errors do not ([AppError]): a handler's error or
// panic, an /app destination nobody handles, a bus that fails a publish.
// The frame gets no RECEIPT and [Config.OnError] is told; by default the
// session's /user/queue/errors subscriptions get the error.
//
// # Events, users and errors
//
// [Config.OnEvent] is told of session events (connect, connected,
// subscribe, unsubscribe, disconnect). [Server.Users] lists the connected
// users with their sessions and subscriptions; with [Config.ClusterUsers]
// each node broadcasts its own on the bus, so the list covers every node.
// [Config.OnError] receives application errors ([AppError]).
//
// # Hooks
//
// [Config.Authenticate] turns the CONNECT frame (login, passcode, any
// token header) and the request that opened the session into a
// [Principal]; [Config.Authorize] may refuse each SUBSCRIBE and SEND by
// destination. Errors wrapping [ErrRefused] are shown to the client;
// others become a generic message.
//
// # Heart-beats
//
// CONNECT's heart-beat cx,cy is negotiated against
// [Config.HeartbeatSend] and [Config.HeartbeatReceive] as STOMP says. Over
// SockJS the transport's own heartbeats and disconnect delay keep the
// connection alive and find dead clients, but sockjs-client hides them from
// the STOMP client, which closes a connection whose negotiated heart-beats
// do not come: so the server sends an EOL message at the negotiated
// interval. Anything received from the client counts as its heart-beat;
// by default the server asks for none.
//
// # History, recovery and presence
//
// With [Config.History] the broker keeps the recent messages of chosen
// topics, after RabbitMQ's streams: each MESSAGE of such a topic carries
// x-stream-offset and x-stream-epoch; a SUBSCRIBE with x-stream-offset
// (first, last, next, offset=N; optionally x-stream-epoch) replays from
// there, then goes live, with no gap and no duplicate. offset=N replays
// every message from N on or none: its RECEIPT and first MESSAGE carry
// x-stream-recovered true or false. A hole in the live stream ends the
// connection with an ERROR, so that the client recovers. With Config.Relay
// the external broker's streams apply instead.
//
// With [Config.Presence] a topic SUBSCRIBE with "x-presence: true" joins
// the topic's members; SUBSCRIBE /app/presence/{name} answers the members
// of /topic/{name} once, and /topic/presence.{name} carries the joins and
// leaves, as JSON (see [PresenceConfig]).
//
// # Concurrency and bounds
//
// Frames of one connection are handled in order on the goroutine that
// serves it, application handlers included. Deliveries come from other
// goroutines (the bus's, other connections') and only queue bytes on the
// session, whose outbound queue is bounded: a client that falls
// sockjs.Options.MaxQueuedBytes behind is closed with 1008, as any slow
// SockJS session, and its unacknowledged queue messages go to other
// consumers. Unacknowledged messages per subscription are bounded by
// [Config.MaxUnacked] (a queue stops giving more; a topic subscriber past it
// gets an ERROR), queued messages by [Config.MaxQueueBacklog] and
// [Config.MaxQueuedBytes], subscriptions and transactions per connection by
// fixed limits.
package stomp
