package stomp

import "context"

// BrokerRelay carries broker destinations to an external STOMP broker
// (RabbitMQ, ActiveMQ); package stomp/relay implements it.
type BrokerRelay interface {
	// Open starts the broker connection of one client session, with the
	// client's CONNECT login and passcode (the relay may use configured
	// ones instead). deliver gets every frame the broker sends on it
	// (MESSAGE, RECEIPT, ERROR), in order, from one goroutine, and must not
	// block long. closed is called once if the connection ends for good
	// (broker gone, broker ERROR), with the reason; not after Close.
	Open(ctx context.Context, login, passcode string, deliver func(*Frame), closed func(error)) (RelaySession, error)
	// Publish sends a message to a broker destination over the relay's
	// shared system connection.
	Publish(ctx context.Context, destination string, header Header, body []byte) error
	// Close closes the system connection and every session's connection.
	Close() error
}

// RelaySession is one client session's connection to the external broker.
type RelaySession interface {
	// Forward sends a client frame (SEND, SUBSCRIBE, UNSUBSCRIBE, ACK,
	// NACK, BEGIN, COMMIT, ABORT) to the broker.
	Forward(ctx context.Context, f *Frame) error
	// Close sends DISCONNECT and closes the connection.
	Close() error
}
