package pubsub

import (
	"context"
	"errors"
)

// Handler receives one payload published on topic. See the package
// documentation for what it may do.
type Handler func(topic string, payload []byte)

// Bus is publish/subscribe across nodes: at-most-once fan-out with
// per-publisher order. The in-memory implementation is [Memory]; the
// cluster work provides a Redis one.
type Bus interface {
	// Publish sends payload to every subscriber of topic, on every node.
	// It returns once the bus has taken the payload, not when it was
	// delivered. An error means the payload was not taken (ErrClosed,
	// ErrOverflow, ctx's error or a transport error).
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe calls h for every payload published on topic from now on,
	// until cancel is called. cancel is idempotent and does not block.
	Subscribe(ctx context.Context, topic string, h Handler) (cancel func(), err error)
}

// Counter is a Bus that tells how many subscribers a publish reached (on
// Redis, the subscription connections: one per node). A cluster node
// sends a message meant for one node this way, so that a node that is gone
// is known at once instead of after a timeout. Memory and the Redis bus
// implement it.
type Counter interface {
	Bus
	// PublishCount is Publish, and reports how many subscribers of topic
	// the payload reached: 0 means nobody subscribes to it now.
	PublishCount(ctx context.Context, topic string, payload []byte) (receivers int, err error)
}

// Errors of the in-memory bus, and for other implementations to wrap.
var (
	// ErrClosed: the bus was closed.
	ErrClosed = errors.New("pubsub: bus closed")
	// ErrOverflow: subscribers are so far behind that the bus holds its
	// limit of undelivered payloads; the payload was dropped. It is the
	// in-memory counterpart of Redis disconnecting a slow subscriber.
	ErrOverflow = errors.New("pubsub: too many undelivered payloads (slow subscribers)")
)
