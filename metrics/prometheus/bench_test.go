package prometheus_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sockjsprom "github.com/sockline/sockline/metrics/prometheus"
)

// The cost the adapter adds to each message sent.
func BenchmarkMessagesOut(b *testing.B) {
	m := sockjsprom.MustNew(prometheus.NewRegistry(), sockjsprom.Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.MessagesOut("websocket", 1, 64)
		}
	})
}
