package sockjs_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/internal/clusterfake"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// Two nodes on an in-memory store and bus, with the history in memory on
// that bus: the client reads on one node, comes back on the other from its
// last position while both publish, and gets every message once, in order,
// over every transport. (cluster/redis runs the same on Redis through the
// round-robin proxy.)
func TestHistoryRecoveryAcrossNodes(t *testing.T) {
	t.Parallel()
	for _, tr := range peerTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			shared, bus := clusterfake.NewShared(), pubsub.NewMemory(1<<20)
			t.Cleanup(func() { _ = bus.Close() })
			store := history.NewMemory(bus)
			var hs []*sockjs.Handler
			var urls []string
			for i, name := range []string{"na", "nb"} {
				var h *sockjs.Handler
				h = sockjs.NewHandler(sockjs.Options{
					RawWebSocket: true,
					AllowJSONP:   true,
					Cluster: &sockjs.Cluster{Store: shared.Store(cluster.Incarnation(name)), Bus: bus,
						Secret: []byte("history test secret, 32 bytes.."), ForwardTimeout: 5 * time.Second},
					History: sockjs.HistoryOptions{
						Rules:  []history.Rule{{Pattern: "news"}},
						Store:  store,
						Encode: historyEncode,
					},
					Logger: slog.New(slog.DiscardHandler),
				}, historyApp(func() *sockjs.Handler { return hs[i] }))
				hs = append(hs, h)
				srv := httptest.NewServer(h)
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_ = h.Shutdown(ctx)
					srv.Close()
				})
				urls = append(urls, srv.URL)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*scenarioWait)
			defer cancel()
			n := 0
			recoverAcrossReconnect(t, ctx, urls[0], urls[1], tr, func(msg string) error {
				n++
				return hs[n%2].Publish(ctx, "news", msg)
			})
		})
	}
}
