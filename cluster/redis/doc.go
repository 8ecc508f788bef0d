// Package redis holds the Redis side of a Sockline cluster: the primitives
// with which several nodes share SockJS sessions without sticky sessions,
// and a publish/subscribe bus across nodes.
//
// Each primitive is one atomic Redis operation (a command or a short Lua
// script), so nodes need no coordination besides Redis, and none of them
// talks to another directly:
//
//   - Liveness ([Store.Register], [Store.Alive], [Store.Fence],
//     [Store.Deregister]): one key per node incarnation, renewed within its
//     lease; a node cut off too long, or fenced, learns it on its next
//     registration. A marker and a short "recovering" flag tell a Redis that
//     restarted empty from one that never knew a session.
//   - Ownership ([Store.Claim], [Store.Owner], [Store.Renew],
//     [Store.Release]): the node that creates a session owns it; creation is
//     cluster-wide unique; the record names the owner's incarnation and
//     outlives it (Tombstone), so that a late request for a session whose
//     owner died learns that it ended instead of creating a new one.
//   - The bus ([Bus]): Redis PUBLISH/SUBSCRIBE behind the pubsub.Bus
//     interface, one subscription connection per node with liveness probes
//     and resubscription after reconnects; on a Redis Cluster, sharded
//     pub/sub (SSUBSCRIBE/SPUBLISH) with one connection per slot in use,
//     moved to the slot's new master after a failover or a resharding.
//
// One code path serves one Redis ([NewClient]), a Redis Cluster
// ([NewClusterClient]) and a master watched by Sentinel
// ([NewSentinelClient]). Keys are namespaced by a prefix ("sockline:" by
// default) so that several applications can share one Redis, and carry one
// of 64 hash tags chosen by a hash of the session or node, so that every
// script touches one slot; each tag has its own marker and recovering flag,
// so a shard that restarted empty is told from one that never knew a
// session.
package redis
