package prometheus_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sockjsprom "github.com/sockline/sockline/metrics/prometheus"
)

// ourFamilies are the metric families New registers, by their default
// names.
var ourFamilies = []string{
	"sockjs_sessions_open",
	"sockjs_sessions_opened_total",
	"sockjs_sessions_closed_total",
	"sockjs_session_duration_seconds",
	"sockjs_messages_received_total",
	"sockjs_received_utf8_bytes_total",
	"sockjs_messages_sent_total",
	"sockjs_sent_utf8_bytes_total",
	"sockjs_receiver_conflicts_total",
	"sockjs_heartbeats_total",
	"sockjs_authorization_refused_total",
	"sockjs_origin_refused_total",
}

// New registers all of its collectors or none: with one of its names
// taken, it fails saying so and leaves nothing of its own registered.
func TestNewRegistersAllOrNothing(t *testing.T) {
	for _, tt := range []struct {
		name  string
		taken prometheus.Collector // registered first, by someone else
		taker string               // its name
	}{
		{"first name taken, other help", prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sockjs_sessions_open", Help: "Someone else's gauge."}), "sockjs_sessions_open"},
		{"middle name taken, other labels", prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sockjs_heartbeats_total", Help: "Someone else's counter."}, []string{"peer"}), "sockjs_heartbeats_total"},
		{"last name taken, no labels", prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sockjs_origin_refused_total", Help: "Someone else's counter."}), "sockjs_origin_refused_total"},
		{"histogram name taken", prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sockjs_session_duration_seconds", Help: "Someone else's histogram."}), "sockjs_session_duration_seconds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(tt.taken)
			m, err := sockjsprom.New(reg, sockjsprom.Options{})
			if err == nil {
				t.Fatal("New succeeded with a name taken")
			}
			if m != nil {
				t.Errorf("New returned a Metrics with its error")
			}
			for _, want := range []string{"none of them is registered", tt.taker} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			// Nothing of ours is exposed...
			for name := range familyNames(t, reg) {
				if name != tt.taker {
					t.Errorf("after the failed New, the registry exposes %s", name)
				}
			}
			// ...nor registered: a registry remembers the help and labels
			// of every name it ever took, so each of our other names can
			// go to someone else's collector only if New left none behind.
			for _, name := range ourFamilies {
				if name == tt.taker {
					continue
				}
				probe := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "A probe of the name."})
				if err := reg.Register(probe); err != nil {
					t.Errorf("%s is still taken after the failed New: %v", name, err)
				}
			}
		})
	}
}
