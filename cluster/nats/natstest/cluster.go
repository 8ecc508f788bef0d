package natstest

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Cluster is three in-process nats-servers with JetStream routed to one
// another, for streams of three replicas: one server may die and the
// others carry on.
type Cluster struct {
	ports   []int // client ports
	routes  []int // cluster ports
	dirs    []string
	mu      sync.Mutex
	servers []*natsserver.Server // nil: stopped
}

// clusterSize is how many servers a Cluster has.
const clusterSize = 3

// StartCluster starts a cluster for t, and shuts it down when t ends; it
// returns once JetStream has a meta leader and every server is current.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{servers: make([]*natsserver.Server, clusterSize)}
	for range clusterSize {
		p, err := freePort()
		if err != nil {
			t.Fatalf("natstest: no free port: %v", err)
		}
		r, err := freePort()
		if err != nil {
			t.Fatalf("natstest: no free port: %v", err)
		}
		c.ports = append(c.ports, p)
		c.routes = append(c.routes, r)
		c.dirs = append(c.dirs, t.TempDir())
	}
	t.Cleanup(c.Stop)
	c.startAll(t)
	return c
}

// URL returns every server's address, comma-separated, as nats.go takes
// them.
func (c *Cluster) URL() string {
	var us []string
	for _, p := range c.ports {
		us = append(us, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	return strings.Join(us, ",")
}

func (c *Cluster) startAll(t testing.TB) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, clusterSize)
	for i := range clusterSize {
		wg.Add(1)
		go func() { // each waits for its routes: start them together
			defer wg.Done()
			errs[i] = c.start(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.waitReady(t, -1)
}

func (c *Cluster) start(i int) error {
	var routes []*url.URL
	for j, r := range c.routes {
		if j != i {
			routes = append(routes, &url.URL{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(r)})
		}
	}
	opts := &natsserver.Options{
		ServerName: fmt.Sprintf("natstest-c%d-%d", i, c.ports[i]),
		Host:       "127.0.0.1",
		Port:       c.ports[i],
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   c.dirs[i],
		Cluster:    natsserver.ClusterOpts{Name: "natstest", Host: "127.0.0.1", Port: c.routes[i]},
		Routes:     routes,
	}
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		return fmt.Errorf("natstest: configure nats-server %d: %w", i, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(20 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("natstest: nats-server %d of the cluster not ready within 20s", i)
	}
	c.mu.Lock()
	c.servers[i] = srv
	c.mu.Unlock()
	return nil
}

// waitReady waits until the running servers but skip have a JetStream
// meta leader among them and are current.
func (c *Cluster) waitReady(t testing.TB, skip int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		leader, current := false, true
		for i, s := range c.servers {
			if s == nil || i == skip {
				continue
			}
			leader = leader || s.JetStreamIsLeader()
			current = current && s.JetStreamIsCurrent()
		}
		c.mu.Unlock()
		if leader && current {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("natstest: the cluster has no JetStream meta leader after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// KillStreamLeader shuts down the server leading stream (of the global
// account), or the meta leader when no server leads it, and returns once
// another server leads it (or leads the meta group).
func (c *Cluster) KillStreamLeader(t testing.TB, stream string) {
	t.Helper()
	c.mu.Lock()
	victim := -1
	for i, s := range c.servers {
		if s != nil && s.JetStreamIsStreamLeader(natsserver.DEFAULT_GLOBAL_ACCOUNT, stream) {
			victim = i
		}
	}
	byMeta := victim < 0
	if byMeta {
		for i, s := range c.servers {
			if s != nil && s.JetStreamIsLeader() {
				victim = i
			}
		}
	}
	var srv *natsserver.Server
	if victim >= 0 {
		srv = c.servers[victim]
		c.servers[victim] = nil
	}
	c.mu.Unlock()
	if srv == nil {
		t.Fatal("natstest: no leader to kill")
	}
	shutdown(srv)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		led := false
		for _, s := range c.servers {
			if s == nil {
				continue
			}
			if byMeta && s.JetStreamIsLeader() || !byMeta && s.JetStreamIsStreamLeader(natsserver.DEFAULT_GLOBAL_ACCOUNT, stream) {
				led = true
			}
		}
		c.mu.Unlock()
		if led {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: no new leader of %q 30s after its leader died", stream)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts every server down; a no-op on a stopped cluster.
func (c *Cluster) Stop() {
	c.mu.Lock()
	servers := c.servers
	c.servers = make([]*natsserver.Server, clusterSize)
	c.mu.Unlock()
	for _, s := range servers {
		if s != nil {
			shutdown(s)
		}
	}
}

// StartEmpty starts every server again, on the same ports, with empty
// stores.
func (c *Cluster) StartEmpty(t testing.TB) {
	t.Helper()
	c.Stop()
	for i := range c.dirs {
		c.dirs[i] = t.TempDir()
	}
	c.startAll(t)
}
