package clustertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster"
)

// The conformance of a cluster.Store: what package cluster documents, on
// every engine.

// aliveCache is how long a Store may reuse a liveness answer (cluster/redis
// does for 500 ms): a node's death shows after it at the latest.
const aliveCache = 500 * time.Millisecond

// storesOn returns one registered Store per node name, on e.
func storesOn(t *testing.T, e Engine, lease, tomb time.Duration, nodes ...string) []cluster.Store {
	t.Helper()
	var out []cluster.Store
	for _, n := range nodes {
		conn := e.Connect(t, n, NodeOptions{Lease: lease, Tombstone: tomb})
		t.Cleanup(conn.Close)
		if _, err := conn.Store.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
		out = append(out, conn.Store)
	}
	return out
}

func testClaimIsClusterWideUnique(t *testing.T, e Engine) {
	ctx := context.Background()
	st := storesOn(t, e, time.Minute, time.Hour, "a", "b", "c")
	for round := range 20 { // races of every outcome
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

// A process restarted under the same name is another incarnation: it does
// not own what the old one owned, and sees it lost once the old one's
// registration lapses.
func testIncarnationsOfOneNameAreDistinct(t *testing.T, e Engine) {
	ctx := context.Background()
	// Old's registration, a new connection, the restarted node's and its
	// claim must all fit in the lease (a loaded machine stalls).
	lease, late := leaseOn(e, 2*time.Second)
	old := storesOn(t, e, lease, time.Minute, "host:8080")[0]
	if _, created, err := old.Claim(ctx, "sid"); err != nil || !created {
		t.Fatalf("claim: created=%v err=%v", created, err)
	}
	restarted := storesOn(t, e, lease, time.Minute, "host:8080")[0]
	if old.Node() == restarted.Node() || !strings.HasPrefix(restarted.Node(), "host:8080#") {
		t.Fatalf("incarnations %q and %q", old.Node(), restarted.Node())
	}
	if owner, created, err := restarted.Claim(ctx, "sid"); err != nil || created || owner != old.Node() {
		t.Fatalf("restarted node's claim while the old one lives: owner=%q created=%v err=%v", owner, created, err)
	}
	if err := restarted.Release(ctx, "sid"); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("restarted node released the old one's session: %v", err)
	}
	// The old one is dead (no registration), and the answer that it lives
	// is no longer reused.
	time.Sleep(max(lease, aliveCache) + late + 200*time.Millisecond)
	if _, _, err := restarted.Claim(ctx, "sid"); !errors.Is(err, cluster.ErrSessionLost) {
		t.Fatalf("claim after the old incarnation died: %v, want ErrSessionLost", err)
	}
}

func testDeadNodesSessionsAreLost(t *testing.T, e Engine) {
	ctx := context.Background()
	// A lease of 1 s renewed every 200 ms: on a busy CI box a renewal 100 ms
	// apart once took longer than a 300 ms lease, and the live node was
	// (rightly) taken for dead.
	lease, late := leaseOn(e, time.Second)
	st := storesOn(t, e, lease, time.Minute, "a", "b")
	if _, created, err := st[0].Claim(ctx, "sid"); err != nil || !created {
		t.Fatalf("claim: created=%v err=%v", created, err)
	}
	// a registers for a while: the session stays a's.
	for range 4 {
		time.Sleep(lease / 5)
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
	time.Sleep(lease + lease/2 + late)
	if _, _, err := st[1].Claim(ctx, "sid"); !errors.Is(err, cluster.ErrSessionLost) {
		t.Fatalf("claim after the owner died: %v, want ErrSessionLost", err)
	}
	if _, err := st[1].Owner(ctx, "sid"); !errors.Is(err, cluster.ErrSessionLost) {
		t.Fatalf("Owner after the owner died: %v, want ErrSessionLost", err)
	}
	// a was only cut off: its next registration says its sessions are lost.
	if _, err := st[0].Register(ctx); !errors.Is(err, cluster.ErrSessionLost) {
		t.Fatalf("register after the lease ran out: %v, want ErrSessionLost", err)
	}
	if known, err := st[0].Register(ctx); err != nil || known {
		t.Fatalf("register again: known=%v err=%v; want a fresh registration", known, err)
	}
}

func testDeregisterEndsTheNodesSessions(t *testing.T, e Engine) {
	ctx := context.Background()
	st := storesOn(t, e, time.Minute, time.Hour, "a", "b")
	if _, _, err := st[0].Claim(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	if err := st[0].Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(aliveCache)
	if _, err := st[1].Owner(ctx, "sid"); !errors.Is(err, cluster.ErrSessionLost) {
		t.Fatalf("Owner after the owner left: %v, want ErrSessionLost", err)
	}
}

// The engine restarted empty: unknown ids are neither created nor reported
// unknown until the nodes have had time to claim theirs back, so no node
// creates a second session under a live session's id.
func testStoreRestartedEmptyRecovers(t *testing.T, e Engine) {
	ctx := context.Background()
	lease, late := leaseOn(e, 500*time.Millisecond)
	st := storesOn(t, e, lease, time.Minute, "a", "b")
	a, b := st[0], st[1]
	if _, _, err := a.Claim(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	e.Stop(t)
	e.Start(t) // empty
	if _, _, err := b.Claim(ctx, "sid"); !errors.Is(err, cluster.ErrRecovering) {
		t.Fatalf("b's claim before a re-registered: %v, want ErrRecovering", err)
	}
	if _, err := b.Owner(ctx, "sid"); !errors.Is(err, cluster.ErrRecovering) {
		t.Fatalf("b's Owner before a re-registered: %v, want ErrRecovering", err)
	}
	if known, err := a.Register(ctx); err != nil || known {
		t.Fatalf("a's registration after the restart: known=%v err=%v; want not known", known, err)
	}
	if lost, err := a.Renew(ctx, []string{"sid"}); err != nil || len(lost) != 0 {
		t.Fatalf("renew after the engine forgot: lost=%v err=%v; want the session claimed back", lost, err)
	}
	if owner, created, err := b.Claim(ctx, "sid"); err != nil || created || owner != a.Node() {
		t.Fatalf("b's claim after a claimed back: owner=%q created=%v err=%v", owner, created, err)
	}
	if _, _, err := b.Claim(ctx, "new"); !errors.Is(err, cluster.ErrRecovering) {
		t.Fatalf("a new session during the recovery: %v, want ErrRecovering", err)
	}
	time.Sleep(lease/2 + late + 350*time.Millisecond) // the recovery grace, half a lease, ran out
	if _, created, err := b.Claim(ctx, "new"); err != nil || !created {
		t.Fatalf("a new session after the recovery: created=%v err=%v", created, err)
	}
}

func testReleaseFreesTheIDForTheOwnerOnly(t *testing.T, e Engine) {
	ctx := context.Background()
	st := storesOn(t, e, time.Minute, time.Hour, "a", "b")
	if _, _, err := st[0].Claim(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	if err := st[1].Release(ctx, "sid"); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("release by a non-owner: %v, want ErrNotOwner", err)
	}
	if err := st[0].Release(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	if err := st[0].Release(ctx, "sid"); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("a second release: %v, want ErrNotOwner", err)
	}
	if owner, created, err := st[1].Claim(ctx, "sid"); err != nil || !created || owner != st[1].Node() {
		t.Fatalf("claim after release: owner=%q created=%v err=%v", owner, created, err)
	}
}

func testRenewManySessionsInBatches(t *testing.T, e Engine) {
	ctx := context.Background()
	st := storesOn(t, e, time.Minute, time.Hour, "a", "b")
	var ids []string
	for i := range 2500 {
		id := "s" + string(rune('a'+i%26)) + time.Duration(i).String()
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

func testStoreErrorsWhileTheEngineIsDown(t *testing.T, e Engine) {
	s := storesOn(t, e, time.Minute, time.Hour, "a")[0]
	e.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, _, err := s.Claim(ctx, "sid"); err == nil {
		t.Fatal("claim with the engine down succeeded")
	}
	if _, err := s.Register(ctx); err == nil {
		t.Fatal("register with the engine down succeeded")
	}
	e.Start(t)
	if _, err := s.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.Claim(context.Background(), "sid"); !errors.Is(err, cluster.ErrRecovering) {
		t.Fatalf("claim right after the engine came back empty: created=%v err=%v; want ErrRecovering", created, err)
	}
}

func init() {
	add(
		scenario{"StoreClaimIsClusterWideUnique", false, testClaimIsClusterWideUnique},
		scenario{"StoreIncarnationsOfOneNameAreDistinct", false, testIncarnationsOfOneNameAreDistinct},
		scenario{"StoreDeadNodesSessionsAreLost", false, testDeadNodesSessionsAreLost},
		scenario{"StoreDeregisterEndsTheNodesSessions", false, testDeregisterEndsTheNodesSessions},
		scenario{"StoreRestartedEmptyRecovers", true, testStoreRestartedEmptyRecovers},
		scenario{"StoreReleaseFreesTheIDForTheOwnerOnly", false, testReleaseFreesTheIDForTheOwnerOnly},
		scenario{"StoreRenewManySessions", false, testRenewManySessionsInBatches},
		scenario{"StoreErrorsWhileTheEngineIsDown", true, testStoreErrorsWhileTheEngineIsDown},
	)
}
