// Package relay is a STOMP broker relay, as Spring's
// StompBrokerRelayMessageHandler: the frames of a STOMP server's clients for
// broker destinations go to an external STOMP broker (RabbitMQ with its
// STOMP plugin, ActiveMQ, Artemis), and what the broker sends back goes to
// the client.
//
// Each client session gets its own TCP connection to the broker, CONNECTed
// with the client's login and passcode (or configured ones:
// Options.ClientLogin), so the broker sees and authorises every client, and
// subscription ids, acks and transactions pass through unchanged. One more
// "system" connection, with Options.SystemLogin, carries Publish (messages
// the application sends to broker destinations); it is reconnected with
// backoff when it drops. While the system connection is down, Open fails at
// once with ErrBrokerUnavailable, as Spring answers CONNECT with "Broker not
// available".
//
// Every connection negotiates heart-beats both ways (Options.HeartbeatSend,
// HeartbeatReceive): the relay sends EOLs while idle and ends a connection
// whose broker stays silent for three of the broker's intervals
// (ErrHeartbeatTimeout).
//
// # Concurrency
//
// One goroutine reads each connection and calls deliver with every frame in
// order; one goroutine owns its writes and drains its bounded queue
// (Options.MaxQueuedFrames) into as few writes as it can, each under a
// deadline. Forward and Publish only enqueue: they wait for room in the queue
// as long as their context allows. No lock is held across network I/O or a
// callback. deliver must not block long (it holds up that connection's
// reads); it and closed may close the session.
//
// # Interface
//
// *Relay implements stomp.BrokerRelay (set it as stomp.Config.Relay); its
// Open returns a stomp.RelaySession.
package relay
