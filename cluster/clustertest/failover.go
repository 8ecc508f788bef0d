package clustertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/sockjs"
)

// failoverLease is the nodes' lease in the failover scenario: longer than a
// failover takes (a Redis Cluster's about 2 s with a 1 s node timeout,
// Sentinel's up to 8 s), as a deployment's lease must be.
const failoverLease = 20 * time.Second

// A master of the engine fails over while sessions of every transport echo
// without pause through the round-robin proxy: every session goes on (its
// owner lives), at most a send or a poll answered 503 meanwhile, which the
// client retries. The figures (messages echoed, sessions lost, the longest
// pause of one session) are logged for the README.
func testFailoverUnderLoadKeepsTheSessions(t *testing.T, e Engine) {
	f := &clusterFixture{engine: e, lease: failoverLease}
	f.start(t, 3, sockjs.Options{})
	transports := append([]string{client.WebSocket}, httpTransports...)
	const perTransport = 5
	type load struct {
		tr      string
		c       *client.Conn
		echoed  atomic.Int64
		err     atomic.Value // error: the session ended
		longest atomic.Int64 // ns: the longest wait for one echo
	}
	var loads []*load
	for _, tr := range transports {
		for range perTransport {
			loads = append(loads, &load{tr: tr, c: dial(t, f.proxy.URL+"/echo", tr)})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, l := range loads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				msg := fmt.Sprintf("%d/%d", i, n)
				start := time.Now()
				if err := l.c.Send(msg); err != nil {
					l.err.Store(err)
					return
				}
				rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
				got, err := l.c.Recv(rctx)
				rcancel()
				if err != nil || got != msg {
					l.err.Store(fmt.Errorf("echo %q: got %q, %v", msg, got, err))
					return
				}
				l.echoed.Add(1)
				if d := int64(time.Since(start)); d > l.longest.Load() {
					l.longest.Store(d)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second) // under load before the failover
	began := time.Now()
	ok := e.Failover(t)
	took := time.Since(began)
	if ok {
		time.Sleep(3 * time.Second) // and after it
	}
	cancel()
	wg.Wait()
	if !ok {
		t.Skip("the engine has no failover")
	}
	lost, total, longest := 0, int64(0), time.Duration(0)
	for i, l := range loads {
		total += l.echoed.Load()
		longest = max(longest, time.Duration(l.longest.Load()))
		if err, _ := l.err.Load().(error); err != nil {
			lost++
			t.Errorf("session %d (%s) ended by the failover: %v", i, l.tr, err)
		}
	}
	t.Logf("failover took %v; %d sessions, %d lost; %d echoes; longest wait for one echo %v", took.Round(time.Millisecond), len(loads), lost, total, longest.Round(time.Millisecond))
}

func init() {
	add(scenario{"FailoverUnderLoadKeepsTheSessions", true, testFailoverUnderLoadKeepsTheSessions})
}
