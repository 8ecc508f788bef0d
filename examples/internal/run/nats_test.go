package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster/nats/natstest"
)

// -nats makes a cluster node on NATS: its store answers, its bus carries,
// and the closer leaves nothing open; a missing secret, both engines at
// once, or a server that does not answer are refused with a clear error.
func TestClusterOnNATS(t *testing.T) {
	srv := natstest.Start(t)
	t.Setenv(SecretEnv, "")
	if _, _, err := Cluster(ClusterConfig{NATS: srv.URL()}); err == nil || !strings.Contains(err.Error(), SecretEnv) {
		t.Fatalf("without a secret: %v", err)
	}
	t.Setenv(SecretEnv, "0123456789abcdef0123456789abcdef")
	if _, _, err := Cluster(ClusterConfig{NATS: srv.URL(), Redis: "127.0.0.1:6379"}); err == nil {
		t.Fatal("-redis and -nats together were accepted")
	}
	if _, _, err := Cluster(ClusterConfig{NATS: "nats://127.0.0.1:1"}); err == nil {
		t.Fatal("a NATS address where nothing listens was accepted")
	}
	cfg := ClusterConfig{NATS: srv.URL(), Node: "web-1"}
	cl, closeCluster, err := Cluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeCluster(context.Background())
	if got := cfg.Engine(); got != "NATS "+srv.URL() {
		t.Fatalf("Engine() = %q", got)
	}
	if !strings.HasPrefix(cl.Store.Node(), "web-1#") {
		t.Fatalf("node %q, want web-1 and an epoch", cl.Store.Node())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cl.Store.Register(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	unsub, err := cl.Bus.Subscribe(ctx, "t", func(_ string, p []byte) { got <- string(p) })
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	if err := cl.Bus.Publish(ctx, "t", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "hello" {
			t.Fatalf("bus delivered %q", m)
		}
	case <-ctx.Done():
		t.Fatal("nothing on the bus")
	}
}
