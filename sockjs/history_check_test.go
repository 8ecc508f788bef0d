package sockjs_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/cluster/clustertest"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/internal/clusterfake"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// slowSince is a history store whose reads from a position (the check's
// read of what the node missed) fail the first times, as a slow store
// does when the check's deadline passes.
type slowSince struct {
	history.Store
	fails atomic.Int32
}

func (s *slowSince) Since(ctx context.Context, topic string, from history.Position, limit int) ([]history.Entry, history.Position, error) {
	if from != (history.Position{}) && s.fails.Add(-1) >= 0 {
		return nil, history.Position{}, context.DeadlineExceeded
	}
	return s.Store.Since(ctx, topic, from, limit)
}

// A node misses the last message of a burst and its check's read of the
// missing message fails: the check tries again at its next round and
// delivers the message. It must not take the failed read for "too much
// was missed" and close the sessions with a gap (3010): nothing was lost
// that the store cannot give.
func TestHistoryCheckRetriesAFailedRead(t *testing.T) {
	t.Parallel()
	shared, mem := clusterfake.NewShared(), pubsub.NewMemory(1<<20)
	t.Cleanup(func() { _ = mem.Close() })
	store := &slowSince{Store: history.NewMemory(mem)}
	store.fails.Store(2)
	var h *sockjs.Handler
	h = sockjs.NewHandler(sockjs.Options{
		Cluster: &sockjs.Cluster{Store: shared.Store(cluster.Incarnation("na")), Bus: clustertest.DropNth(mem, "news", 3),
			Secret: []byte("history test secret, 32 bytes.."), ForwardTimeout: 5 * time.Second},
		History: sockjs.HistoryOptions{
			Rules:         []history.Rule{{Pattern: "news"}},
			Store:         store,
			Encode:        historyEncode,
			CheckInterval: 50 * time.Millisecond,
		},
		Logger: slog.New(slog.DiscardHandler),
	}, historyApp(func() *sockjs.Handler { return h }))
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		srv.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), scenarioWait)
	defer cancel()
	p, err := dialSockJSWebSocket(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	peerSend(t, p, "sub news -")
	readSubscribed(t, p)
	for _, m := range []string{"m1", "m2", "m3"} {
		if err := h.Publish(ctx, "news", m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []string{"m1", "m2", "m3"} {
		ev, err := p.Next(scenarioWait)
		if err != nil || ev.Closed {
			t.Fatalf("message %d: %v %+v (a failed read of the store taken for a gap?)", i+1, err, ev)
		}
		if _, msg := splitPositioned(t, ev.Msg); msg != want {
			t.Fatalf("message %d = %q, want %q", i+1, msg, want)
		}
	}
	if n := store.fails.Load(); n >= 0 {
		t.Fatalf("the check read from a position %d times, want 3 (two failures, then the read that delivers)", 2-n)
	}
}
