// Package clustertest is the cluster suite every engine runs: the
// scenarios of several Sockline nodes sharing sessions (every HTTP
// transport through a round-robin proxy, the one-receiver rule across
// nodes, rollover, heartbeats, broadcast and topics, node death, engine
// outages, restarts under the same name, idle carried requests...) and the
// conformance of a cluster.Store, all written against the [Engine]
// interface. An engine's package runs them from its tests:
//
//	func TestSuite(t *testing.T) { clustertest.Run(t, newEngine) }
//
// An engine that also keeps topic history and presence (a [Historian])
// runs their cluster scenarios too: recovery on the other node over every
// transport, history lost with the engine, a gap closed and recovered, a
// lost last message found by the check, presence with a node killed:
//
//	func TestHistorySuite(t *testing.T) { clustertest.RunHistory(t, newEngine) }
//
// It is a package of its own, not a _test file, so that every engine
// (cluster/redis on one Redis, a Redis Cluster and Sentinel; cluster/nats)
// runs the same scenarios instead of a copy.
package clustertest
