// Package pubsub is the seam between a node-local message broker (such as
// package stomp's) and the publish/subscribe of a cluster: a [Bus] carries
// payloads published on a topic to every subscriber of that topic, on
// every node.
//
// # What a Bus promises, and why no more
//
// The interface is cut to what Redis PUBLISH/SUBSCRIBE gives, so that the
// Redis-backed implementation of the cluster work can slot in under the
// same broker code:
//
//   - Fan-out: every subscriber of a topic, on every node, gets every
//     payload published after its Subscribe returned.
//   - At most once: a payload is never delivered twice, but may be lost: a
//     node whose subscription connection drops, or that falls behind
//     (Redis closes subscribers past client-output-buffer-limit), misses
//     what was published meanwhile. Nothing is stored for later.
//   - Per-publisher order: payloads that one goroutine publishes on one
//     topic, one after the other, arrive in that order. Payloads of
//     different publishers may interleave differently than they were
//     called, but every subscriber on a node sees one order (a node reads
//     one subscription connection).
//
// So a Bus suits broadcast destinations (STOMP /topic/..., and a user's
// sessions spread over nodes), where a subscriber that was away simply
// missed messages. It does not suit work queues: STOMP /queue/... hands each
// message to exactly one consumer and redelivers it when that consumer
// leaves without acknowledging it. Across nodes that needs stored,
// claimable messages: a Redis stream with a consumer group (XADD,
// XREADGROUP by each node's consumers, XACK on acknowledgement, XAUTOCLAIM
// of messages pending for a dead consumer), or a list moved atomically to a
// per-consumer list (LMOVE) and back on failure. That is a different
// interface, left to the cluster work; package stomp keeps its queues on
// the node that holds them.
//
// # Handlers
//
// A [Handler] is called on the Bus's delivery goroutine, one payload at a
// time, so it must not block: hand the payload to a bounded queue and
// return. It must not change or keep the payload, which is shared by every
// subscriber. Cancelling a subscription may race with one last delivery
// already on its way.
package pubsub
