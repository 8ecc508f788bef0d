package testredis

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of three masters with one replica each, on
// loopback ports (each node's cluster bus on its port + 10000), without
// persistence. StartCluster starts it; KillMaster fails one master over.
type Cluster struct {
	// Nodes are the six nodes, in the order redis-cli --cluster create
	// took them: the first three start as masters.
	Nodes []*Server
	cli   string
}

// clusterNodeTimeout is the nodes' cluster-node-timeout: a master that
// does not answer for this long is failed over to its replica.
const clusterNodeTimeout = 1000 * time.Millisecond

// StartCluster starts a Redis Cluster for t and stops it when t ends. It
// returns once every slot is served and every replica has synced.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{cli: cliPath(bin)}
	var addrs []string
	for range 6 {
		port, err := freeBusPort()
		if err != nil {
			t.Fatalf("testredis: no free port pair for a cluster node: %v", err)
		}
		s := &Server{bin: bin, port: port, dir: t.TempDir(), extra: []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout.Milliseconds())),
			// A replica takes over however long it was cut from its master.
			"--cluster-replica-validity-factor", "0",
		}}
		if err := s.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(c.cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("testredis: redis-cli --cluster create: %v: %s", err, out)
	}
	c.waitHealthy(t, 30*time.Second)
	return c
}

// cliPath returns redis-cli beside redis-server, else the one on PATH.
func cliPath(server string) string {
	p := filepath.Join(filepath.Dir(server), "redis-cli")
	if _, err := exec.LookPath(p); err == nil {
		return p
	}
	return "redis-cli"
}

// Addrs returns every node's host:port, the seeds a client takes.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, s := range c.Nodes {
		out = append(out, s.Addr())
	}
	return out
}

// cmd runs one command on node s with redis-cli and returns its answer.
func (c *Cluster) cmd(s *Server, args ...string) (string, error) {
	return cliCmd(c.cli, s.port, args...)
}

func cliCmd(cli string, port int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)
	out, err := exec.CommandContext(ctx, cli, a...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// running returns the nodes whose process runs.
func (c *Cluster) running() []*Server {
	var out []*Server
	for _, s := range c.Nodes {
		s.mu.Lock()
		up := s.proc != nil
		s.mu.Unlock()
		if up {
			out = append(out, s)
		}
	}
	return out
}

// waitHealthy waits until every running node sees the cluster ok and every
// running replica's link to its master is up and synced.
func (c *Cluster) waitHealthy(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := c.healthy()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testredis: the cluster is not healthy after %v: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Cluster) healthy() error {
	masters := 0
	for _, s := range c.running() {
		info, err := c.cmd(s, "cluster", "info")
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("node %s: cluster state not ok", s.Addr())
		}
		repl, err := c.cmd(s, "info", "replication")
		if err != nil {
			return err
		}
		switch {
		case strings.Contains(repl, "role:master"):
			masters++
		case !strings.Contains(repl, "master_link_status:up") || strings.Contains(repl, "master_sync_in_progress:1"):
			return fmt.Errorf("replica %s not synced", s.Addr())
		}
	}
	if masters < 3 {
		return fmt.Errorf("%d masters running, want 3", masters)
	}
	return nil
}

// role returns "master" or "slave" as node s says.
func (c *Cluster) role(s *Server) string {
	out, err := c.cmd(s, "role")
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(out, "\n")
	return strings.TrimSpace(first)
}

// Masters returns the running nodes that are masters now.
func (c *Cluster) Masters() []*Server {
	var out []*Server
	for _, s := range c.running() {
		if c.role(s) == "master" {
			out = append(out, s)
		}
	}
	return out
}

// MasterFor returns the node that is master of key's slot now.
func (c *Cluster) MasterFor(t testing.TB, key string) *Server {
	t.Helper()
	for _, s := range c.Masters() {
		out, err := c.cmd(s, "cluster", "keyslot", key)
		if err != nil {
			t.Fatal(err)
		}
		slot, _ := strconv.Atoi(out)
		if c.owns(s, slot) {
			return s
		}
	}
	t.Fatalf("testredis: no master serves the slot of %q", key)
	return nil
}

// owns tells whether master s serves slot, from its CLUSTER NODES line.
func (c *Cluster) owns(s *Server, slot int) bool {
	out, err := c.cmd(s, "cluster", "nodes")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "myself") {
			continue
		}
		for _, r := range f[8:] {
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil && a <= slot && slot <= b {
				return true
			}
		}
	}
	return false
}

// KillMaster kills master m (as a crash would) and returns once its
// replica has taken over and the cluster is ok again. m nil means the
// first master.
func (c *Cluster) KillMaster(t testing.TB, m *Server) {
	t.Helper()
	if m == nil {
		ms := c.Masters()
		if len(ms) == 0 {
			t.Fatal("testredis: no master to kill")
		}
		m = ms[0]
	}
	c.waitHealthy(t, 30*time.Second) // replicas synced: the failover loses nothing acknowledged long ago
	m.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if len(c.Masters()) == 3 && c.okWithout() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testredis: no replica took over from the killed master %s within 30s", m.Addr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// okWithout tells whether every running node sees the cluster ok.
func (c *Cluster) okWithout() bool {
	for _, s := range c.running() {
		info, err := c.cmd(s, "cluster", "info")
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
	}
	return true
}

// Restart kills every node and starts them again on the same ports, empty
// (no persistence) but with their cluster configuration, as after losing
// the whole cluster's data; it returns once the cluster is ok again.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	for _, s := range c.Nodes {
		s.Stop()
	}
	for _, s := range c.Nodes {
		if err := s.start(); err != nil {
			t.Fatal(err)
		}
	}
	c.waitHealthy(t, 30*time.Second)
}

// Stop kills every node.
func (c *Cluster) Stop() {
	for _, s := range c.Nodes {
		s.Stop()
	}
}

// StartStopped starts again the nodes that were stopped (a killed master
// comes back as a replica of the node that took over), empty.
func (c *Cluster) StartStopped(t testing.TB) {
	t.Helper()
	for _, s := range c.Nodes {
		s.mu.Lock()
		up := s.proc != nil
		s.mu.Unlock()
		if !up {
			if err := s.start(); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.waitHealthy(t, 30*time.Second)
}
