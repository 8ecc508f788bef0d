// Package presencetest is the behaviour every presence.Store must have, as
// one test suite that each implementation runs.
package presencetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sockline/sockline/presence"
)

func ids(ms []presence.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID+"="+m.Info)
	}
	slices.Sort(out)
	return out
}

// Run runs the suite on stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) presence.Store) {
	ctx := context.Background()
	t.Run("join, members, leave", func(t *testing.T) {
		s := newStore(t)
		if err := s.Join(ctx, "room", time.Minute, presence.Member{ID: "a", Info: "ann"}, presence.Member{ID: "b", Info: "bob"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Join(ctx, "other", time.Minute, presence.Member{ID: "c"}); err != nil {
			t.Fatal(err)
		}
		ms, exp, err := s.Members(ctx, "room")
		if err != nil || len(exp) != 0 || fmt.Sprint(ids(ms)) != "[a=ann b=bob]" {
			t.Fatalf("members = %v, expired %v, %v", ids(ms), exp, err)
		}
		if ok, err := s.Leave(ctx, "room", "a"); !ok || err != nil {
			t.Fatalf("leave a = %v, %v", ok, err)
		}
		if ok, _ := s.Leave(ctx, "room", "a"); ok {
			t.Fatal("a left twice")
		}
		ms, _, _ = s.Members(ctx, "room")
		if fmt.Sprint(ids(ms)) != "[b=bob]" {
			t.Fatalf("members after a left = %v", ids(ms))
		}
	})
	t.Run("unrenewed members expire once", func(t *testing.T) {
		s := newStore(t)
		if err := s.Join(ctx, "room", 50*time.Millisecond, presence.Member{ID: "gone"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Join(ctx, "room", time.Minute, presence.Member{ID: "stays"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		ms, exp, err := s.Members(ctx, "room")
		if err != nil || fmt.Sprint(ids(ms)) != "[stays=]" || fmt.Sprint(ids(exp)) != "[gone=]" {
			t.Fatalf("members %v, expired %v, %v", ids(ms), ids(exp), err)
		}
		if _, exp, _ = s.Members(ctx, "room"); len(exp) != 0 {
			t.Fatalf("expired again: %v", ids(exp))
		}
	})
	t.Run("renewed members stay", func(t *testing.T) {
		// Renewed every 30 ms for longer than its TTL, a member stays. The
		// read can only be judged when it ended within the TTL of the last
		// renewal's start: a box stalled longer than that (a loaded CI
		// machine) tries again, with a fresh store.
		const ttl = 200 * time.Millisecond
		for attempt := 1; ; attempt++ {
			s := newStore(t)
			var renewed time.Time
			for range 8 {
				renewed = time.Now()
				if err := s.Join(ctx, "room", ttl, presence.Member{ID: "a"}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(30 * time.Millisecond)
			}
			ms, exp, err := s.Members(ctx, "room")
			if took := time.Since(renewed); took >= ttl {
				if attempt < 5 {
					t.Logf("the read ended %v after the last renewal began, past the TTL (%v): again", took, ttl)
					continue
				}
				t.Fatalf("5 tries and the box never read within the TTL (%v) of a renewal", ttl)
			}
			if err != nil || len(ms) != 1 || len(exp) != 0 {
				t.Fatalf("members %v, expired %v, %v", ids(ms), ids(exp), err)
			}
			return
		}
	})
}
