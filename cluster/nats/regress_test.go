package nats

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster/nats/natstest"
)

// registerSoon registers s, retrying while the connection comes back after a
// server restart.
func registerSoon(t *testing.T, s *Store) bool {
	t.Helper()
	var err error
	for range 100 {
		var known bool
		if known, err = s.Register(context.Background()); err == nil {
			return known
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("Register after the restart: %v", err)
	return false
}

// Several handlers share one Store (sockjs.Cluster's Store, one handler per
// service), and each claims its own sessions back when Register says the
// store had forgotten the node. After NATS restarted empty, only the first
// registration finds the node's key missing: the others must hear "unknown"
// too while the cluster recovers, or their sessions keep no record and
// another node answers them 404 (or opens them again). Redis's Store
// answers so.
func TestEveryRegistrationWhileRecoveringAnswersUnknown(t *testing.T) {
	srv := natstest.Start(t)
	s := storesOn(t, srv, 2*time.Second, time.Minute, "a")[0]
	if known := registerSoon(t, s); !known {
		t.Fatal("a second registration answers unknown before any restart")
	}
	srv.RestartEmpty(t)
	for handler := range 3 {
		if known := registerSoon(t, s); known {
			t.Fatalf("registration %d after NATS restarted empty answers known: its handler would not claim its sessions back", handler+1)
		}
	}
	// Once the recovery is over the node is known again.
	for range 100 {
		if registerSoon(t, s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the node stays unknown after the recovery")
}

// Every handler of a node registers on the same tick; none may fail
// because the others renewed the node's key meanwhile (it would miss the
// recovery window above, and fill the logs with warnings).
func TestConcurrentRegistrationsOfOneStoreSucceed(t *testing.T) {
	s := newStores(t, 10*time.Second, time.Minute, "a")[0]
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make(chan error, 2*casAttempts)
		for range 2 * casAttempts {
			wg.Go(func() {
				if _, err := s.Register(context.Background()); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
