package nats_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/sockline/sockline/cluster/nats"
	"github.com/sockline/sockline/cluster/nats/natstest"
	"github.com/sockline/sockline/presence"
	"github.com/sockline/sockline/presence/presencetest"
)

func newPresence(t testing.TB, nc *natsgo.Conn, o nats.PresenceOptions) *nats.Presence {
	t.Helper()
	p, err := nats.NewPresence(nc, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPresenceStore(t *testing.T) {
	srv := natstest.Start(t)
	nc := histConn(t, srv)
	n := 0
	presencetest.Run(t, func(t *testing.T) presence.Store {
		n++ // each subtest its own stream and subjects
		return newPresence(t, nc, nats.PresenceOptions{Prefix: fmt.Sprintf("p%d", n), Stream: fmt.Sprintf("p%d", n)})
	})
}

func TestNewPresenceValidates(t *testing.T) {
	srv := natstest.Start(t)
	nc := histConn(t, srv)
	for _, tc := range []struct {
		name string
		nc   *natsgo.Conn
		opts nats.PresenceOptions
	}{
		{"no connection", nil, nats.PresenceOptions{}},
		{"prefix with a wildcard", nc, nats.PresenceOptions{Prefix: "a.>"}},
		{"stream with a dot", nc, nats.PresenceOptions{Stream: "a.b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := nats.NewPresence(tc.nc, tc.opts); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func memberNames(ms []presence.Member) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID+"="+m.Info)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// Two nodes share the members of a topic; members and topics of any name
// stay apart; when one node dies without a word its members expire, and
// of the surviving nodes sweeping at once each expired member is returned
// to one only.
func TestPresenceNodeKilled(t *testing.T) {
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deadNC := histConn(t, srv)
	dead := newPresence(t, deadNC, nats.PresenceOptions{})
	var alive []*nats.Presence
	for range 3 {
		alive = append(alive, newPresence(t, histConn(t, srv), nats.PresenceOptions{}))
	}
	// long enough that the dead node's members are still there when the
	// other nodes first read them, on a loaded machine; they expire ttl
	// after joining, well inside the sweeps' 10 s deadline
	const ttl = 2 * time.Second
	odd := "a.b c/*>"
	if err := dead.Join(ctx, "room", ttl, presence.Member{ID: "ann", Info: "A"}, presence.Member{ID: odd, Info: "odd"}); err != nil {
		t.Fatal(err)
	}
	if err := dead.Join(ctx, "room/other", ttl, presence.Member{ID: "zed"}); err != nil {
		t.Fatal(err)
	}
	if err := alive[0].Join(ctx, "room", time.Minute, presence.Member{ID: "bob", Info: "B"}); err != nil {
		t.Fatal(err)
	}
	ms, exp, err := alive[1].Members(ctx, "room")
	if want := "a.b c/*>=odd,ann=A,bob=B"; err != nil || len(exp) != 0 || memberNames(ms) != want {
		t.Fatalf("members seen from another node: %q, expired %v, %v; want %q", memberNames(ms), exp, err, want)
	}

	deadNC.Close() // the node dies: nobody renews its members
	var (
		mu  sync.Mutex
		all []presence.Member
	)
	// expired holds who a finished round of sweeps expired: no later sweep
	// may list them. (Within a round, ann and the odd member may part: each
	// is a write of its own, and a sweep may fall between their expiries.)
	expired := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(all) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("expired within 10 s: %q", memberNames(all))
		}
		time.Sleep(ttl / 3)
		var wg sync.WaitGroup
		for _, p := range alive { // every node sweeps at once
			wg.Go(func() {
				ms, exp, err := p.Members(ctx, "room")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, exp...)
				mu.Unlock()
				for _, m := range ms {
					if expired[m.ID] {
						t.Errorf("%s listed by a sweep after an earlier one expired it", m.ID)
					}
				}
			})
		}
		wg.Wait()
		for _, m := range all {
			expired[m.ID] = true
		}
	}
	if got := memberNames(all); got != "a.b c/*>=odd,ann=A" {
		t.Fatalf("expired members, over every node's sweeps: %q (each once)", got)
	}
	ms, exp, err = alive[2].Members(ctx, "room")
	if err != nil || len(exp) != 0 || memberNames(ms) != "bob=B" {
		t.Fatalf("after the sweep: %q, expired again %v, %v", memberNames(ms), exp, err)
	}
	ms, exp, _ = alive[2].Members(ctx, "room/other")
	if len(ms) != 0 || memberNames(exp) != "zed=" {
		t.Fatalf("the other topic: %q, expired %q", memberNames(ms), memberNames(exp))
	}
}

// A renewal that comes between a sweep's read and its claim keeps the
// member; a Leave reports a member once, and a member renewed after it
// is back.
func TestPresenceLeaveAndRenewal(t *testing.T) {
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := newPresence(t, histConn(t, srv), nats.PresenceOptions{})
	b := newPresence(t, histConn(t, srv), nats.PresenceOptions{})
	if err := a.Join(ctx, "room", time.Minute, presence.Member{ID: "ann"}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		if ok, err := b.Leave(ctx, "room", "ann"); ok != want || err != nil {
			t.Fatalf("leave %d = %v, %v; want %v", i, ok, err, want)
		}
	}
	if ok, err := b.Leave(ctx, "room", "never"); ok || err != nil {
		t.Fatalf("leave of a member never there = %v, %v", ok, err)
	}
	if err := a.Join(ctx, "room", time.Minute, presence.Member{ID: "ann", Info: "back"}); err != nil {
		t.Fatal(err)
	}
	ms, _, err := b.Members(ctx, "room")
	if err != nil || memberNames(ms) != "ann=back" {
		t.Fatalf("after joining again: %q, %v", memberNames(ms), err)
	}
}

// Renewing many members is one call; all of them are listed.
func TestPresenceManyMembers(t *testing.T) {
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := newPresence(t, histConn(t, srv), nats.PresenceOptions{})
	ms := make([]presence.Member, 2500) // over two read batches
	for i := range ms {
		ms[i] = presence.Member{ID: fmt.Sprintf("m%04d", i), Info: strings.Repeat("i", 100)}
	}
	for range 2 { // join, then renew
		if err := p.Join(ctx, "room", time.Minute, ms...); err != nil {
			t.Fatal(err)
		}
	}
	got, exp, err := p.Members(ctx, "room")
	if err != nil || len(exp) != 0 || len(got) != len(ms) {
		t.Fatalf("%d members, %d expired, %v", len(got), len(exp), err)
	}
}

// NATS restarted empty: the stream is made again by the next call.
func TestPresenceAfterNATSLostItsData(t *testing.T) {
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc := histConn(t, srv)
	p := newPresence(t, nc, nats.PresenceOptions{})
	if err := p.Join(ctx, "room", time.Minute, presence.Member{ID: "ann"}); err != nil {
		t.Fatal(err)
	}
	srv.RestartEmpty(t)
	histUp(t, nc)
	if err := p.Join(ctx, "room", time.Minute, presence.Member{ID: "bob"}); err != nil {
		t.Fatal(err)
	}
	ms, _, err := p.Members(ctx, "room")
	if err != nil || memberNames(ms) != "bob=" {
		t.Fatalf("after the loss: %q, %v", memberNames(ms), err)
	}
}
