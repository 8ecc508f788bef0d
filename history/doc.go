// Package history keeps the recent messages of a topic with their
// positions, so that a subscriber that was away can get back what it
// missed, and joins that replay with the live stream without a gap or a
// duplicate.
//
// A [Position] is an offset that grows by one per message and an epoch
// that names one life of the topic's history. When the history is lost (a
// process restarted, Redis restarted empty, a topic idle past its
// KeepPosition), the next message starts a new epoch: a position of the
// old epoch can never be taken for one of the new, so a client is told it
// cannot recover instead of being given someone else's messages.
//
// A [Store] appends and reads history; [Memory] is one process's, package
// cluster/redis has one on Redis Streams. A store made with a bus also
// publishes every appended message, framed with its position ([Frame]),
// on the bus under the same topic, in offset order, atomically with the
// append: that is what lets a [Cursor] join replay and live messages.
//
// Recovery, for one subscriber (what package sockjs does per session, and
// what a STOMP broker can do per subscription):
//
//  1. make a Cursor and let it receive the topic's live messages (it
//     buffers them);
//  2. make sure the node's bus subscription to the topic is in place;
//  3. read Store.Since(from) and hand the result to Cursor.Replay, which
//     delivers the missed messages, then the buffered ones after them, and
//     goes live; every later live message is delivered once, in order.
//
// Every message published after step 2 reaches the cursor live; every one
// published before is in what step 3 reads; the cursor drops what it got
// both ways by offset.
package history
