package testredis

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelMaster is the master name the sentinels of StartSentinel monitor.
const SentinelMaster = "sockline"

// Sentinel is one master, one replica and three sentinels monitoring them
// (quorum 2), on loopback ports, without persistence.
type Sentinel struct {
	// Data are the master and the replica, in the roles they started with.
	Data      []*Server
	Sentinels []*Server
	cli       string
}

// StartSentinel starts a Sentinel set-up for t and stops it when t ends. It
// returns once the replica has synced and every sentinel knows the replica
// and the other sentinels.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	st := &Sentinel{cli: cliPath(bin)}
	for i := range 2 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{bin: bin, port: port, dir: t.TempDir()}
		if i == 1 {
			s.extra = []string{"--replicaof", "127.0.0.1", strconv.Itoa(st.Data[0].port)}
		}
		if err := s.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		st.Data = append(st.Data, s)
	}
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\nsentinel down-after-milliseconds %[3]s 1000\nsentinel failover-timeout %[3]s 5000\nsentinel parallel-syncs %[3]s 1\n",
			port, dir, SentinelMaster, st.Data[0].port)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &Server{bin: bin, port: port, dir: dir, conf: conf, sentinel: true}
		if err := s.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		st.Sentinels = append(st.Sentinels, s)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := st.ready()
		if err == nil {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("testredis: the sentinels are not ready after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ready tells whether the replica synced and each sentinel knows the
// replica and the two other sentinels.
func (st *Sentinel) ready() error {
	m := st.masterNow()
	for _, s := range st.Data {
		if s == m {
			continue
		}
		repl, err := cliCmd(st.cli, s.port, "info", "replication")
		if err != nil {
			return err
		}
		if !strings.Contains(repl, "master_link_status:up") {
			return fmt.Errorf("replica %s not synced", s.Addr())
		}
	}
	for _, s := range st.Sentinels {
		out, err := cliCmd(st.cli, s.port, "sentinel", "master", SentinelMaster)
		if err != nil {
			return err
		}
		f := strings.Split(out, "\n")
		got := map[string]string{}
		for i := 0; i+1 < len(f); i += 2 {
			got[f[i]] = f[i+1]
		}
		if got["num-slaves"] != "1" || got["num-other-sentinels"] != "2" {
			return fmt.Errorf("sentinel %s knows %s replicas and %s other sentinels", s.Addr(), got["num-slaves"], got["num-other-sentinels"])
		}
	}
	return nil
}

// Addrs returns the sentinels' host:port.
func (st *Sentinel) Addrs() []string {
	var out []string
	for _, s := range st.Sentinels {
		out = append(out, s.Addr())
	}
	return out
}

// masterNow returns the data node the first answering sentinel names
// master; nil when none answers.
func (st *Sentinel) masterNow() *Server {
	for _, s := range st.Sentinels {
		out, err := cliCmd(st.cli, s.port, "sentinel", "get-master-addr-by-name", SentinelMaster)
		if err != nil {
			continue
		}
		f := strings.Fields(out)
		if len(f) != 2 {
			continue
		}
		for _, d := range st.Data {
			if strconv.Itoa(d.port) == f[1] {
				return d
			}
		}
	}
	return nil
}

// Master returns the data node that is master now.
func (st *Sentinel) Master() *Server { return st.masterNow() }

// Failover makes the sentinels promote the replica: with kill, by killing
// the master (as a crash would; it stays down); without, by SENTINEL
// FAILOVER. It returns once the sentinels name the new master and it
// answers as one.
func (st *Sentinel) Failover(t testing.TB, kill bool) {
	t.Helper()
	old := st.masterNow()
	if old == nil {
		t.Fatal("testredis: no sentinel names a master")
	}
	if kill {
		old.Stop()
	} else if out, err := cliCmd(st.cli, st.Sentinels[0].port, "sentinel", "failover", SentinelMaster); err != nil || !strings.HasPrefix(out, "OK") {
		t.Fatalf("testredis: SENTINEL FAILOVER: %v %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := st.masterNow(); m != nil && m != old {
			if role, err := cliCmd(st.cli, m.port, "role"); err == nil && strings.HasPrefix(role, "master") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("testredis: no failover from %s within 30s", old.Addr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the master and the replica, as an outage would; the
// sentinels go on.
func (st *Sentinel) Stop() {
	for _, s := range st.Data {
		s.Stop()
	}
}

// Start starts the stopped master and replica again, empty, in the roles
// they started with, and returns once the replica has synced and the
// sentinels know it.
func (st *Sentinel) Start(t testing.TB) {
	t.Helper()
	for _, s := range st.Data {
		s.Restart(t)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := st.ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testredis: the Sentinel set-up is not ready 30s after a restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
