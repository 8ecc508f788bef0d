// Package engines measures the cluster on each engine side by side, every
// server in a process of its own so that its CPU time is its own: one
// Redis, a three-master Redis Cluster with a replica each, and a nats-server
// with JetStream (./natsserver). Three examples/testserver nodes take a
// broadcast's fan-out (TestEngineFanout); two behind the round-robin proxy
// carry xhr-polling echoes until throughput stops growing
// (TestEngineCarried). Skipped unless asked for:
//
//	SOCKLINE_ENGINES=1 go test -v -run Engine -timeout 30m ./benchmarks/engines/
//
// $SOCKLINE_ENGINES_ONLY=redis,nats picks engines; _SUBSCRIBERS (per node),
// _MESSAGES, _RATE and _SECONDS change the load.
package engines
