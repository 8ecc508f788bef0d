package prometheus_test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// sampleValue returns the value of the counter or gauge sample of family
// name whose labels are exactly labels.
func sampleValue(g prometheus.Gatherer, name string, labels map[string]string) (float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, fmt.Errorf("gather: %w", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := make(map[string]string, len(m.GetLabel()))
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if !maps.Equal(got, labels) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), nil
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), nil
			}
			return 0, fmt.Errorf("%s%v is neither a counter nor a gauge", name, labels)
		}
		return 0, fmt.Errorf("no sample %s%v", name, labels)
	}
	return 0, fmt.Errorf("no metric family %s", name)
}

// waitValue waits until the sample of name with labels is want: events
// come from the goroutines of the handler (a Send is counted after the
// message is queued, so the client may read it first).
func waitValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		got, err := sampleValue(g, name, labels)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatal(err)
			}
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(5 * time.Millisecond) // metrics have no change notification
	}
}

// familyNames returns the names of the metric families g gathers.
func familyNames(t *testing.T, g prometheus.Gatherer) map[string]bool {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	names := make(map[string]bool, len(mfs))
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}
