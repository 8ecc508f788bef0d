package nats

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockline/sockline/cluster/nats/natstest"
)

// newStores returns one registered Store per node name, on one fresh server.
func newStores(t *testing.T, lease, tomb time.Duration, nodes ...string) []*Store {
	t.Helper()
	return storesOn(t, natstest.Start(t), lease, tomb, nodes...)
}

func storesOn(t *testing.T, srv *natstest.Server, lease, tomb time.Duration, nodes ...string) []*Store {
	t.Helper()
	var out []*Store
	for _, n := range nodes {
		nc, err := Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		s, err := NewStore(nc, StoreOptions{Node: n, Lease: lease, Tombstone: tomb})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// Session ids and node names are any strings: each gets its own key.
func TestKeysOfAnyIDAreDistinct(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Minute, time.Hour, "host:8080 ☃.*>", "b")
	ids := []string{"", "a.b", "a=2Eb", "a b", "*", ">", "a/b", strings.Repeat("x.", 300), strings.Repeat("x.", 301)}
	for i, id := range ids {
		if owner, created, err := st[i%2].Claim(ctx, id); err != nil || !created || owner != st[i%2].Node() {
			t.Fatalf("claim %q: owner=%q created=%v err=%v", id, owner, created, err)
		}
	}
	for i, id := range ids {
		if owner, err := st[1-i%2].Owner(ctx, id); err != nil || owner != st[i%2].Node() {
			t.Fatalf("owner of %q: %q, %v; want %q", id, owner, err, st[i%2].Node())
		}
	}
}

// A fenced node's sessions are lost for everyone at once, and the node, if
// it lives after all, learns it on its next registration.
func TestFenceEndsTheNodesSessionsAndTellsIt(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Minute, time.Hour, "a", "b")
	if _, _, err := st[0].Claim(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	if err := st[1].Fence(ctx, st[0].Node()); err != nil {
		t.Fatal(err)
	}
	if _, err := st[1].Owner(ctx, "sid"); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("Owner after the owner was fenced: %v, want ErrSessionLost", err)
	}
	if _, err := st[0].Register(ctx); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("the fenced node's registration: %v, want ErrSessionLost", err)
	}
	if known, err := st[0].Register(ctx); err != nil || known {
		t.Fatalf("register again: known=%v err=%v; want a fresh registration", known, err)
	}
}

// NATS restarted empty: unknown ids are neither created nor reported
// unknown until the nodes have had time to claim theirs back, so no node
// creates a second session under a live session's id. The suite
// (StoreRestartedEmptyRecovers) restarts the server on an empty directory;
// here a bucket in memory storage loses its keys with the process.
func TestRestartedEmptyRecovers(t *testing.T) {
	for _, storage := range []jetstream.StorageType{jetstream.MemoryStorage} {
		t.Run(storage.String(), func(t *testing.T) {
			ctx := context.Background()
			srv := natstest.Start(t)
			st := storesWith(t, srv, StoreOptions{Lease: 2 * time.Second, Tombstone: time.Minute, Storage: storage}, "a", "b")
			a, b := st[0], st[1]
			if _, _, err := a.Claim(ctx, "sid"); err != nil {
				t.Fatal(err)
			}
			if storage == jetstream.MemoryStorage {
				srv.Restart(t) // memory: the data is gone with the process
			} else {
				srv.RestartEmpty(t)
			}
			waitConnected(t, a, b)
			if _, _, err := b.Claim(ctx, "sid"); !errors.Is(err, ErrRecovering) {
				t.Fatalf("b's claim before a re-registered: %v, want ErrRecovering", err)
			}
			if _, err := b.Owner(ctx, "sid"); !errors.Is(err, ErrRecovering) {
				t.Fatalf("b's Owner before a re-registered: %v, want ErrRecovering", err)
			}
			if _, err := b.Alive(ctx, []string{a.Node()}); !errors.Is(err, ErrRecovering) {
				t.Fatalf("b's Alive before a re-registered: %v, want ErrRecovering", err)
			}
			if known, err := a.Register(ctx); err != nil || known {
				t.Fatalf("a's registration after the restart: known=%v err=%v; want not known", known, err)
			}
			if lost, err := a.Renew(ctx, []string{"sid"}); err != nil || len(lost) != 0 {
				t.Fatalf("renew after NATS forgot: lost=%v err=%v; want the session claimed back", lost, err)
			}
			if owner, created, err := b.Claim(ctx, "sid"); err != nil || created || owner != a.Node() {
				t.Fatalf("b's claim after a claimed back: owner=%q created=%v err=%v", owner, created, err)
			}
			if _, _, err := b.Claim(ctx, "new"); !errors.Is(err, ErrRecovering) {
				t.Fatalf("a new session during the recovery: %v, want ErrRecovering", err)
			}
			time.Sleep(2500 * time.Millisecond)
			if _, created, err := b.Claim(ctx, "new"); err != nil || !created {
				t.Fatalf("a new session after the recovery: created=%v err=%v", created, err)
			}
		})
	}
}

// NATS restarted with its data: nothing is lost and nothing recovers.
func TestRestartedWithDataKeepsEverything(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t)
	st := storesOn(t, srv, 5*time.Second, time.Minute, "a", "b")
	a, b := st[0], st[1]
	if _, _, err := a.Claim(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	waitConnected(t, a, b)
	if known, err := a.Register(ctx); err != nil || !known {
		t.Fatalf("a's registration after the restart: known=%v err=%v; want known", known, err)
	}
	if owner, created, err := b.Claim(ctx, "sid"); err != nil || created || owner != a.Node() {
		t.Fatalf("b's claim after the restart: owner=%q created=%v err=%v", owner, created, err)
	}
	if _, created, err := b.Claim(ctx, "new"); err != nil || !created {
		t.Fatalf("a new session after the restart: created=%v err=%v", created, err)
	}
}

// Session records are tombstones: they outlive their owner for Tombstone,
// then expire, and the id is free again.
func TestRecordsExpireAfterTheTombstone(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Second, 2*time.Second, "a", "b")
	if _, _, err := st[0].Claim(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // b's registration lapsed too, which a claim does not look at
	if owner, created, err := st[1].Claim(ctx, "sid"); err != nil || !created || owner != st[1].Node() {
		t.Fatalf("claim after the tombstone expired: owner=%q created=%v err=%v", owner, created, err)
	}
}

func TestNewStoreValidates(t *testing.T) {
	nc := connect(t, natstest.Start(t))
	for _, o := range []StoreOptions{
		{},
		{Node: "a", Lease: -time.Second},
		{Node: "a", Lease: 500 * time.Millisecond},
		{Node: "a", Lease: time.Minute, Tombstone: time.Second},
		{Node: "a", Bucket: "a.b"},
	} {
		if _, err := NewStore(nc, o); err == nil {
			t.Errorf("NewStore(%+v) accepted", o)
		}
	}
	if _, err := NewStore(nil, StoreOptions{Node: "a"}); err == nil {
		t.Error("NewStore without a connection accepted")
	}
}

func storesWith(t *testing.T, srv *natstest.Server, o StoreOptions, nodes ...string) []*Store {
	t.Helper()
	var out []*Store
	for _, n := range nodes {
		o.Node = n
		s, err := NewStore(connect(t, srv), o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func connect(t *testing.T, srv *natstest.Server) *natsgo.Conn {
	t.Helper()
	nc, err := Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// waitConnected waits until every store's connection is up again.
func waitConnected(t *testing.T, stores ...*Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range stores {
		for !s.b.nc.IsConnected() {
			if time.Now().After(deadline) {
				t.Fatalf("no reconnection within 10s: %v", s.b.nc.Status())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestConnectFailsClearly(t *testing.T) {
	for _, url := range []string{"", "nats://127.0.0.1:1"} {
		if nc, err := Connect(url); err == nil {
			nc.Close()
			t.Errorf("Connect(%q) succeeded", url)
		} else if url != "" && !strings.Contains(err.Error(), "nats-server") {
			t.Errorf("Connect(%q): %v, want a hint at the server", url, err)
		}
	}
}
