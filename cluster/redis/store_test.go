package redis

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sockline/sockline/internal/testredis"
)

func newStores(t *testing.T, lease, tomb time.Duration, nodes ...string) []*Store {
	t.Helper()
	srv := testredis.Start(t)
	var out []*Store
	for _, n := range nodes {
		rdb, err := NewClient(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		s, err := NewStore(rdb, StoreOptions{Node: n, Lease: lease, Tombstone: tomb})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestClaimIsClusterWideUnique(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Minute, time.Hour, "a", "b", "c")
	results := make(chan [2]any, len(st))
	for _, s := range st {
		go func() {
			owner, created, err := s.Claim(ctx, "sid")
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
		t.Fatalf("%d nodes created the session, want exactly 1", createdCount)
	}
	if distinct := slices.Compact(slices.Sorted(slices.Values(owners))); len(distinct) != 1 {
		t.Fatalf("nodes disagree on the owner: %v", owners)
	}
	if got, err := st[1].Owner(ctx, "sid"); err != nil || got != owners[0] {
		t.Fatalf("Owner = %q, %v; want %q", got, err, owners[0])
	}
	if got, err := st[1].Owner(ctx, "other"); err != nil || got != "" {
		t.Fatalf("Owner of an unknown session = %q, %v; want empty", got, err)
	}
}

func TestExpiredLeaseLeavesATombstone(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, 200*time.Millisecond, time.Minute, "a", "b")
	if _, created, err := st[0].Claim(ctx, "sid"); err != nil || !created {
		t.Fatalf("claim: created=%v err=%v", created, err)
	}
	// a renews for a while: the session stays a's.
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		if lost, err := st[0].Renew(ctx, []string{"sid"}); err != nil || len(lost) != 0 {
			t.Fatalf("renew: lost=%v err=%v", lost, err)
		}
	}
	if owner, created, err := st[1].Claim(ctx, "sid"); err != nil || created || owner != "a" {
		t.Fatalf("b's claim of a live session: owner=%q created=%v err=%v", owner, created, err)
	}
	// a dies: no more renewals. After the lease, b must not re-create it.
	time.Sleep(400 * time.Millisecond)
	if _, _, err := st[1].Claim(ctx, "sid"); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("claim after the owner died: %v, want ErrSessionLost", err)
	}
	if _, err := st[1].Owner(ctx, "sid"); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("Owner after the owner died: %v, want ErrSessionLost", err)
	}
	// a comes back: its renewal reports the session lost.
	if lost, err := st[0].Renew(ctx, []string{"sid"}); err != nil || !slices.Equal(lost, []string{"sid"}) {
		t.Fatalf("renew after expiry: lost=%v err=%v; want [sid]", lost, err)
	}
}

func TestRenewClaimsBackWhatRedisForgot(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	rdb, err := NewClient(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	a, _ := NewStore(rdb, StoreOptions{Node: "a"})
	b, _ := NewStore(rdb, StoreOptions{Node: "b"})
	if _, _, err := a.Claim(ctx, "sid"); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t) // empty
	if lost, err := a.Renew(ctx, []string{"sid"}); err != nil || len(lost) != 0 {
		t.Fatalf("renew after Redis forgot: lost=%v err=%v; want the session claimed back", lost, err)
	}
	if owner, created, err := b.Claim(ctx, "sid"); err != nil || created || owner != "a" {
		t.Fatalf("b's claim after a claimed back: owner=%q created=%v err=%v", owner, created, err)
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
	if owner, created, err := st[1].Claim(ctx, "sid"); err != nil || !created || owner != "b" {
		t.Fatalf("claim after release: owner=%q created=%v err=%v", owner, created, err)
	}
}

func TestRenewManySessionsInBatches(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Minute, time.Hour, "a", "b")
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
		if owner, _ := st[0].Owner(ctx, id); owner != "b" {
			t.Fatalf("%s reported lost but owned by %q", id, owner)
		}
	}
}

func TestReceiverSlotIsExclusive(t *testing.T) {
	ctx := context.Background()
	st := newStores(t, time.Minute, time.Hour, "a", "b")
	ok, cur, err := st[0].AcquireReceiver(ctx, "sid", "req1", time.Minute)
	if err != nil || !ok || cur != "req1" {
		t.Fatalf("first acquire: ok=%v cur=%q err=%v", ok, cur, err)
	}
	ok, cur, err = st[1].AcquireReceiver(ctx, "sid", "req2", time.Minute)
	if err != nil || ok || cur != "req1" {
		t.Fatalf("second acquire: ok=%v cur=%q err=%v; want refused, held by req1", ok, cur, err)
	}
	if ok, err := st[1].RenewReceiver(ctx, "sid", "req2", time.Minute); err != nil || ok {
		t.Fatalf("renew by a non-holder: ok=%v err=%v", ok, err)
	}
	if err := st[1].ReleaseReceiver(ctx, "sid", "req2"); err != nil {
		t.Fatal(err)
	}
	if ok, err := st[0].RenewReceiver(ctx, "sid", "req1", time.Minute); err != nil || !ok {
		t.Fatalf("a non-holder's release freed the slot: renew ok=%v err=%v", ok, err)
	}
	if err := st[0].ReleaseReceiver(ctx, "sid", "req1"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := st[1].AcquireReceiver(ctx, "sid", "req2", 150*time.Millisecond); err != nil || !ok {
		t.Fatalf("acquire after release: ok=%v err=%v", ok, err)
	}
	time.Sleep(400 * time.Millisecond) // req2's node died: the slot frees itself
	if ok, _, err := st[0].AcquireReceiver(ctx, "sid", "req3", time.Minute); err != nil || !ok {
		t.Fatalf("acquire after the holder's ttl: ok=%v err=%v", ok, err)
	}
}

func TestStoreErrorsWhileRedisIsDown(t *testing.T) {
	srv := testredis.Start(t)
	rdb, err := NewClient(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	s, err := NewStore(rdb, StoreOptions{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, _, err := s.Claim(ctx, "sid"); err == nil {
		t.Fatal("claim with Redis down succeeded")
	}
	srv.Restart(t)
	if _, created, err := s.Claim(context.Background(), "sid"); err != nil || !created {
		t.Fatalf("claim after Redis came back: created=%v err=%v", created, err)
	}
}

func TestNewStoreValidates(t *testing.T) {
	for _, o := range []StoreOptions{
		{},
		{Node: "a", Lease: -time.Second},
		{Node: "a", Lease: time.Minute, Tombstone: time.Second},
	} {
		if _, err := NewStore(nil, o); err == nil {
			t.Errorf("NewStore(%+v) accepted", o)
		}
	}
}
