package sockjs_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/session"
	"github.com/sockline/sockline/sockjs"
)

// Publish to a topic of 100 sessions on one node, without history and with
// it (in memory, positions added by Encode): the cost of history per
// message, delivery included.
func BenchmarkPublishHistory(b *testing.B) {
	const sessions = 100
	for _, kind := range []string{"plain", "history"} {
		b.Run(kind, func(b *testing.B) {
			opts := sockjs.Options{}
			if kind == "history" {
				opts.History = sockjs.HistoryOptions{Rules: []history.Rule{{Pattern: "news"}}, Encode: historyEncode}
			}
			subscribed := make(chan error, sessions)
			var h *sockjs.Handler
			h = sockjs.NewHandler(opts, func(ctx context.Context, s *sockjs.Session) {
				_, err := h.Subscribe(ctx, s, "news")
				subscribed <- err
				<-ctx.Done()
			})
			defer shutdownTB(b, h)
			ctx := context.Background()
			rcvs := make([]*session.Receiver, sessions)
			for i := range rcvs {
				id := "s" + strconv.Itoa(i)
				s := h.Open(id, "xhr_streaming", httptest.NewRequest("POST", "/000/"+id+"/xhr_streaming", nil))
				r, err := s.Attach(ctx)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(r.Detach)
				if f, err := r.Next(ctx); err != nil || f.Kind != session.KindOpen {
					b.Fatal(f.Kind, err)
				}
				if err := <-subscribed; err != nil {
					b.Fatal(err)
				}
				rcvs[i] = r
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Publish(ctx, "news", allocBenchMsg); err != nil {
					b.Fatal(err)
				}
				for _, r := range rcvs {
					if f, err := r.Next(ctx); err != nil || f.Kind != session.KindMessages {
						b.Fatal(f.Kind, err)
					}
				}
			}
		})
	}
}
