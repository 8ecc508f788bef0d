package prometheus_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sockline/sockline/internal/clusterfake"
	sockjsprom "github.com/sockline/sockline/metrics/prometheus"
	"github.com/sockline/sockline/pubsub"
	"github.com/sockline/sockline/sockjs"
)

// histogramCount returns the sample count of histogram name with labels.
func histogramCount(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// A request carried to the session's node is counted by transport and
// outcome on the node that carried it, with its time to first byte; the
// owner, which served it as its own, counts nothing.
func TestCarriedRequestsCounted(t *testing.T) {
	const secret = "the cluster secret, 32 bytes...."
	bus := pubsub.NewMemory(1 << 20)
	defer bus.Close()
	shared := clusterfake.NewShared()
	var urls []string
	var regs []*prometheus.Registry
	for _, node := range []string{"a#1", "b#1"} {
		reg := prometheus.NewPedanticRegistry()
		m := sockjsprom.MustNew(reg, sockjsprom.Options{})
		h := sockjs.NewHandler(sockjs.Options{
			Events:  m,
			Cluster: &sockjs.Cluster{Store: shared.Store(node), Bus: bus, Secret: []byte(secret)},
			Logger:  slog.New(slog.DiscardHandler),
		}, echo)
		srv := httptest.NewServer(h)
		defer srv.Close()
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			_ = h.Shutdown(ctx)
		}()
		urls, regs = append(urls, srv.URL), append(regs, reg)
	}
	base := "/000/carried"
	if code, body := post(t, urls[0]+base+"/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open on a: %d %q", code, body)
	}
	if code, body := post(t, urls[1]+base+"/xhr_send", `["hello"]`); code != 204 {
		t.Fatalf("send through b: %d %q", code, body)
	}
	if code, body := post(t, urls[1]+base+"/xhr", ""); code != 200 || body != "a[\"hello\"]\n" {
		t.Fatalf("poll through b: %d %q", code, body)
	}
	const name = "sockjs_cluster_carried_requests_total"
	for _, tr := range []string{"xhr_send", "xhr"} {
		waitValue(t, regs[1], name, map[string]string{"transport": tr, "outcome": "ok"}, 1)
		if n := histogramCount(t, regs[1], "sockjs_cluster_carried_first_byte_seconds", map[string]string{"transport": tr}); n != 1 {
			t.Errorf("b's time to first byte of %s has %d samples, want 1", tr, n)
		}
		if _, err := sampleValue(regs[0], name, map[string]string{"transport": tr, "outcome": "ok"}); err == nil {
			t.Errorf("a, the owner, counted a carried %s request", tr)
		}
	}
}
