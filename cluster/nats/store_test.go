package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

func TestClaimIsClusterWideUnique(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Minute, time.Hour, "a", "b", "c")
	for round := range 20 {
		id := fmt.Sprint("sid", round)
		results := make(chan [2]any, len(st))
		for _, s := range st {
			go func() {
				owner, created, err := s.Claim(ctx, id)
				if err != nil {
					t.Error(err)
				}
				results <- [2]any{owner, created}
			}()
		}
		var owners []string
		createdCount := 0
		for range st {
			r := <-results
			owners = append(owners, r[0].(string))
			if r[1].(bool) {
				createdCount++
			}
		}
		if createdCount != 1 {
			t.Fatalf("%s: %d nodes created the session, want exactly 1", id, createdCount)
		}
		if distinct := slices.Compact(slices.Sorted(slices.Values(owners))); len(distinct) != 1 {
			t.Fatalf("%s: nodes disagree on the owner: %v", id, owners)
		}
		if got, err := st[1].Owner(ctx, id); err != nil || got != owners[0] {
			t.Fatalf("Owner = %q, %v; want %q", got, err, owners[0])
		}
	}
	if got, err := st[1].Owner(ctx, "other"); err != nil || got != "" {
		t.Fatalf("Owner of an unknown session = %q, %v; want empty", got, err)
	}
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

// A process restarted under the same name is another incarnation: it does
// not own what the old one owned, and sees it lost once the old one's
// registration lapses.
func TestIncarnationsOfOneNameAreDistinct(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t)
	old := storesOn(t, srv, time.Second, time.Minute, "host:8080")[0]
	if _, created, err := old.Claim(ctx, "sid"); err != nil || !created {
		t.Fatalf("claim: created=%v err=%v", created, err)
	}
	restarted := storesOn(t, srv, time.Second, time.Minute, "host:8080")[0]
	if old.Node() == restarted.Node() || !strings.HasPrefix(restarted.Node(), "host:8080#") {
		t.Fatalf("incarnations %q and %q", old.Node(), restarted.Node())
	}
	if owner, created, err := restarted.Claim(ctx, "sid"); err != nil || created || owner != old.Node() {
		t.Fatalf("restarted node's claim while the old one lives: owner=%q created=%v err=%v", owner, created, err)
	}
	if err := restarted.Release(ctx, "sid"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("restarted node released the old one's session: %v", err)
	}
	time.Sleep(2500 * time.Millisecond) // the old one is dead: no registration
	if _, _, err := restarted.Claim(ctx, "sid"); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("claim after the old incarnation died: %v, want ErrSessionLost", err)
	}
}

func TestDeadNodesSessionsAreLost(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Second, time.Minute, "a", "b")
	if _, created, err := st[0].Claim(ctx, "sid"); err != nil || !created {
		t.Fatalf("claim: created=%v err=%v", created, err)
	}
	// a registers for a while: the session stays a's.
	for range 6 {
		time.Sleep(300 * time.Millisecond)
		if _, err := st[0].Register(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if owner, created, err := st[1].Claim(ctx, "sid"); err != nil || created || owner != st[0].Node() {
		t.Fatalf("b's claim of a live session: owner=%q created=%v err=%v", owner, created, err)
	}
	if alive, err := st[1].Alive(ctx, []string{st[0].Node(), "nobody#1"}); err != nil || !slices.Equal(alive, []bool{true, false}) {
		t.Fatalf("Alive = %v, %v", alive, err)
	}
	// a dies: no more registrations. After the lease, b must not re-create it.
	time.Sleep(2500 * time.Millisecond)
	if _, _, err := st[1].Claim(ctx, "sid"); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("claim after the owner died: %v, want ErrSessionLost", err)
	}
	if _, err := st[1].Owner(ctx, "sid"); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("Owner after the owner died: %v, want ErrSessionLost", err)
	}
	// a was only cut off: its next registration says its sessions are lost.
	if _, err := st[0].Register(ctx); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("register after the lease ran out: %v, want ErrSessionLost", err)
	}
	if known, err := st[0].Register(ctx); err != nil || known {
		t.Fatalf("register again: known=%v err=%v; want a fresh registration", known, err)
	}
}

func TestDeregisterEndsTheNodesSessions(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Minute, time.Hour, "a", "b")
	if _, _, err := st[0].Claim(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	if err := st[0].Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(aliveFor)
	if _, err := st[1].Owner(ctx, "sid"); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("Owner after the owner left: %v, want ErrSessionLost", err)
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
// creates a second session under a live session's id.
func TestRestartedEmptyRecovers(t *testing.T) {
	for _, storage := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
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

func TestReleaseFreesTheIDForTheOwnerOnly(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Minute, time.Hour, "a", "b")
	if _, _, err := st[0].Claim(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	if err := st[1].Release(ctx, "sid"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("release by a non-owner: %v, want ErrNotOwner", err)
	}
	if err := st[0].Release(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	if err := st[0].Release(ctx, "sid"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("a second release: %v, want ErrNotOwner", err)
	}
	if owner, created, err := st[1].Claim(ctx, "sid"); err != nil || !created || owner != st[1].Node() {
		t.Fatalf("claim after release: owner=%q created=%v err=%v", owner, created, err)
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

func TestRenewManySessions(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Minute, time.Hour, "a", "b")
	var ids []string
	for i := range 2500 {
		id := fmt.Sprint("s", i)
		ids = append(ids, id)
		if _, _, err := st[i%2].Claim(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	lost, err := st[0].Renew(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) != 1250 {
		t.Fatalf("a lost %d sessions, want the 1250 that b owns", len(lost))
	}
	for _, id := range lost {
		if owner, _ := st[0].Owner(ctx, id); owner != st[1].Node() {
			t.Fatalf("%s reported lost but owned by %q", id, owner)
		}
	}
}

func TestStoreErrorsWhileNATSIsDown(t *testing.T) {
	srv := natstest.Start(t)
	s := storesWith(t, srv, StoreOptions{Lease: time.Minute, Tombstone: time.Hour, Storage: jetstream.MemoryStorage}, "a")[0]
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, _, err := s.Claim(ctx, "sid"); err == nil {
		t.Fatal("claim with NATS down succeeded")
	}
	if _, err := s.Register(ctx); err == nil {
		t.Fatal("register with NATS down succeeded")
	}
	srv.Start(t) // memory storage: empty
	waitConnected(t, s)
	if _, err := s.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.Claim(context.Background(), "sid"); !errors.Is(err, ErrRecovering) {
		t.Fatalf("claim right after NATS came back empty: created=%v err=%v; want ErrRecovering", created, err)
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
