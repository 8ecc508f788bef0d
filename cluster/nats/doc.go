// Package nats holds the NATS side of a Sockline cluster: the session
// store on a JetStream key-value bucket and the bus on core NATS subjects,
// behind the same interfaces as package cluster/redis (cluster.Store and
// pubsub.Counter), with the same semantics, so that sockjs.Options.Cluster
// takes either.
//
//   - Liveness ([Store.Register], [Store.Alive], [Store.Fence],
//     [Store.Deregister]): one key per node incarnation with a TTL of the
//     lease, written again at each registration; a node cut off too long,
//     or fenced, learns it on its next registration. A marker key and a
//     short "recovering" flag tell a bucket that came back empty (the
//     server lost JetStream's data, or kept it in memory) from one that
//     never knew a session; a bucket that is gone altogether is made again.
//   - Ownership ([Store.Claim], [Store.Owner], [Store.Renew],
//     [Store.Release]): creation is a write that expects the key to have
//     no value, so it is cluster-wide unique; the record names the owner's
//     incarnation and expires after Tombstone; renewals and releases
//     expect the revision they read. JetStream has no scripts: each
//     operation is a few reads and one conditional write, retried when the
//     key changed in between.
//   - The bus ([Bus]): one subscription per topic and node; topic names
//     are escaped into one subject token each (any string is a topic).
//     [Bus.PublishCount] tells 0 from "someone" by NATS's no-responders
//     status. A payload larger than the server's max_payload (1 MiB by
//     default; a carried send or poll may be larger) goes in parts that the
//     receiving node puts together. nats.go subscribes again by itself
//     after a reconnect.
//
// Requirements: nats-server 2.11 or later with JetStream (per-key TTLs),
// and a connection that reconnects for ever ([Connect] makes one). The
// bucket's keys and the bus's subjects are namespaced (StoreOptions.Bucket,
// BusOptions.Prefix) so that several applications can share one NATS.
package nats
