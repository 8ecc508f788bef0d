// Package redis holds the Redis side of a Sockline cluster: the primitives
// with which several nodes share SockJS sessions without sticky sessions,
// and a publish/subscribe bus across nodes.
//
// Each primitive is one atomic Redis operation (a command or a short Lua
// script), so nodes need no coordination besides Redis, and none of them
// talks to another directly:
//
//   - Ownership ([Store.Claim], [Store.Renew], [Store.Release]): the node that
//     creates a session owns it under a lease that it renews; creation is
//     cluster-wide unique, and a tombstone outlives the lease so that a late
//     request for a session whose owner died learns that it ended instead of
//     silently creating a new one elsewhere.
//   - The receiver slot ([Store.AcquireReceiver] and friends): the SockJS
//     rule of one receiving request per session ("Another connection still
//     open", 2010) held across nodes.
//   - The bus ([Bus]): Redis PUBLISH/SUBSCRIBE behind the pubsub.Bus
//     interface, one subscription connection per node with liveness probes
//     and resubscription after reconnects.
//
// Keys are namespaced by a prefix ("sockline:" by default) so that several
// applications can share one Redis. Keys of one session share a hash tag
// ({id}) so that the scripts work on Redis Cluster too.
package redis
