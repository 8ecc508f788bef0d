package testredis

import (
	"strings"
	"testing"
)

func TestClusterFailsOverAKilledMaster(t *testing.T) {
	c := StartCluster(t)
	if got := len(c.Masters()); got != 3 {
		t.Fatalf("%d masters, want 3", got)
	}
	m := c.MasterFor(t, "somekey")
	if _, err := c.cmd(m, "set", "somekey", "v"); err != nil {
		t.Fatal(err)
	}
	// Replication is asynchronous: only a write a replica has acknowledged
	// survives the master's death (a loaded box killed it first once).
	if got, err := c.cmd(m, "wait", "1", "5000"); err != nil || got != "1" {
		t.Fatalf("WAIT 1 5000 = %q, %v: no replica acknowledged the write", got, err)
	}
	c.KillMaster(t, m)
	nm := c.MasterFor(t, "somekey")
	if nm == m {
		t.Fatal("the killed master still serves the key's slot")
	}
	if got, err := c.cmd(nm, "get", "somekey"); err != nil || got != "v" {
		t.Fatalf("GET on the new master = %q, %v; want the value written before the failover", got, err)
	}
	c.StartStopped(t)
	if role := c.role(m); role != "slave" {
		t.Fatalf("the old master came back as %q, want a replica", role)
	}
}

func TestSentinelFailsOver(t *testing.T) {
	for _, kill := range []bool{false, true} {
		name := map[bool]string{false: "SENTINEL FAILOVER", true: "master killed"}[kill]
		t.Run(name, func(t *testing.T) {
			st := StartSentinel(t)
			old := st.Master()
			if old != st.Data[0] {
				t.Fatalf("the sentinels name %v master, want the first data node", old)
			}
			st.Failover(t, kill)
			if m := st.Master(); m != st.Data[1] {
				t.Fatalf("after the failover the sentinels name %v, want the replica", m)
			}
			if out, _ := cliCmd(st.cli, st.Data[1].port, "role"); !strings.HasPrefix(out, "master") {
				t.Fatalf("the promoted replica says role %q", out)
			}
		})
	}
}
