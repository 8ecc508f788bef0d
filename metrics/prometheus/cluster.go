package prometheus

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sockline/sockline/sockjs"
)

// clusterCollector exports a Handler's ClusterStats, read once per scrape.
type clusterCollector struct {
	h       *sockjs.Handler
	dropped *prometheus.Desc
}

// NewClusterCollector returns a collector of h's cluster counters (see
// sockjs.Handler.ClusterStats), to register next to New's metrics with the
// same Options:
//
//	sockjs_cluster_dropped_messages_total{reason="forged|malformed|stray"}
//
// forged counts messages not made with the cluster's Secret (a node
// configured with another secret, or someone injecting into the bus),
// malformed authenticated messages that did not parse (a node of another
// version), stray messages of exchanges this node no longer has (late
// answers after a timeout, or a peer that restarted). Without
// Options.Cluster the three stay at zero. h must not be nil. The requests
// a node carries for another are counted by New's Metrics
// (sockjs_cluster_carried_*), from sockjs.Events.
func NewClusterCollector(h *sockjs.Handler, o Options) prometheus.Collector {
	return &clusterCollector{
		h: h,
		dropped: prometheus.NewDesc(prometheus.BuildFQName(o.namespace(), "cluster", "dropped_messages_total"),
			"Cluster messages this node dropped, by reason: forged (not made with the cluster's Secret: "+
				"a node with another secret, or someone writing to the bus), malformed (authenticated but unreadable: "+
				"a node of another version), stray (for an exchange this node no longer has: a late answer, or a restarted peer).",
			[]string{"reason"}, o.ConstLabels),
	}
}

// Describe implements prometheus.Collector.
func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.dropped }

// Collect implements prometheus.Collector.
func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.ClusterStats()
	for _, r := range []struct {
		reason string
		n      uint64
	}{{"forged", st.Forged}, {"malformed", st.Malformed}, {"stray", st.Stray}} {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(r.n), r.reason)
	}
}
