// Package chaos holds the cluster's chaos test: three examples/testserver
// processes on one Redis (or, with CHAOS_ENGINE=redis-cluster, a Redis
// Cluster that also loses a master) behind a round-robin proxy, sessions on
// every HTTP transport sending sequence-numbered messages, while a node is
// killed and restarted under its name, Redis restarts empty, and a node
// drains and restarts. It has no code of its own; run it with
//
//	go test -run TestChaos -v ./cluster/chaos/
//	CHAOS_ENGINE=redis-cluster go test -run TestChaos -v ./cluster/chaos/
//	CHAOS_DIRECT=1 go test -run TestChaos -v ./cluster/chaos/
//
// (CHAOS_DIRECT=1: the nodes carry requests over direct connections
// between them, -direct.)
//
// to see the survival figures.
package chaos
