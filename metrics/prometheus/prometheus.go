// Package prometheus exports a sockjs.Handler's events as Prometheus
// metrics: plug a Metrics into sockjs.Options.Events and serve the registry
// with promhttp.
//
//	m := prometheus.MustNew(reg, prometheus.Options{})
//	h := sockjs.NewHandler(sockjs.Options{Events: m}, app)
//	reg.MustRegister(prometheus.NewClusterCollector(h, prometheus.Options{})) // with Options.Cluster
//
// The metrics, all labelled by transport ("websocket", "xhr_streaming",
// "xhr", "eventsource", "htmlfile", "jsonp", "rawwebsocket") except the
// origin refusals and the cluster's, with the namespace "sockjs" unless
// Options say another:
//
//	sockjs_sessions_open                     gauge: sessions open now
//	sockjs_sessions_opened_total             counter
//	sockjs_sessions_closed_total             counter, also by cause: client,
//	                                         timeout, server, write_failed,
//	                                         slow_consumer, send_timeout,
//	                                         session_lost, other
//	sockjs_session_duration_seconds          histogram of session lifetimes
//	sockjs_messages_received_total           counter: messages the app read
//	sockjs_received_utf8_bytes_total         counter: their text, in UTF-8 bytes
//	sockjs_messages_sent_total               counter: messages queued to clients
//	sockjs_sent_utf8_bytes_total             counter: their text, in UTF-8 bytes
//	sockjs_receiver_conflicts_total          counter: receiving requests
//	                                         refused with 2010 "Another
//	                                         connection still open"
//	sockjs_heartbeats_total                  counter
//	sockjs_authorization_refused_total       counter
//	sockjs_origin_refused_total              counter (no transport label)
//	sockjs_cluster_carried_requests_total    counter by transport and outcome:
//	                                         requests this node carried to
//	                                         their session's node (ok,
//	                                         timeout, unreachable, lost,
//	                                         aborted, client_gone)
//	sockjs_cluster_carried_first_byte_seconds histogram by transport: how
//	                                         long the owner took to start
//	                                         the response (for a send, the
//	                                         cost of carrying it; for a poll,
//	                                         also the wait for a message)
//	sockjs_cluster_dropped_messages_total    counter by reason: forged,
//	                                         malformed, stray (from
//	                                         NewClusterCollector)
//
// Both byte counters count the messages' text in UTF-8 bytes, as Recv
// returned it and Send took it: in and out compare. What goes on the wire
// is more: the JSON encoding adds 2 bytes of quotes a message and escapes
// some characters (2 bytes for a quote, backslash, newline, carriage return
// or tab, 6 for \uXXXX, 12 for a character outside the Basic Multilingual
// Plane), plus the transport's framing.
//
// New registers every collector in one Register call: it either succeeds
// or leaves nothing of the adapter registered. Each event costs a map
// lookup and an atomic add; the per-transport children are resolved once,
// at construction. Several handlers can share one registry by giving each
// its own value of the same ConstLabels (handler="chat", handler="echo"):
// Prometheus wants one set of label names per metric name.
//
// metrics/grafana/sockjs.json is a Grafana dashboard of these metrics (the
// default namespace).
package prometheus

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sockline/sockline/cluster"
	"github.com/sockline/sockline/sockjs"
)

// Options configures New and NewClusterCollector. The zero value is ready
// to use.
type Options struct {
	// Namespace prefixes every metric name. Empty means "sockjs".
	Namespace string
	// ConstLabels are added to every metric, to tell handlers that share a
	// registry apart; each needs the same label names with its own values.
	// Default: none.
	ConstLabels prometheus.Labels
	// DurationBuckets are the session duration histogram's upper bounds,
	// in seconds. Nil means DefaultDurationBuckets.
	DurationBuckets []float64
}

// namespace returns the metric name prefix o asks for.
func (o Options) namespace() string {
	if o.Namespace == "" {
		return "sockjs"
	}
	return o.Namespace
}

// DefaultDurationBuckets spans sessions from a tenth of a second (a
// refused or broken client) to a day (a dashboard left open).
var DefaultDurationBuckets = []float64{0.1, 1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600}

// CarriedBuckets are the upper bounds, in seconds, of the carried
// requests' time to first byte: a carried send takes about a millisecond
// on a healthy network; a poll waits up to the heartbeat delay (25 s).
var CarriedBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// transportNames are the transports whose children New resolves up front.
var transportNames = []string{"websocket", "xhr_streaming", "xhr", "eventsource", "htmlfile", "jsonp", "rawwebsocket"}

// closeCauses are the values of the cause label, in the order causeOf
// tries them.
var closeCauses = []struct {
	err  error
	name string
}{
	{sockjs.ErrSlowConsumer, "slow_consumer"},
	{sockjs.ErrSendTimeout, "send_timeout"},
	{cluster.ErrSessionLost, "session_lost"},
	{sockjs.ErrClientClosed, "client"},
	{sockjs.ErrTimedOut, "timeout"},
	{sockjs.ErrWriteFailed, "write_failed"},
	{sockjs.ErrServerClosed, "server"},
}

const otherCause = "other"

// Metrics implements sockjs.Events by updating Prometheus collectors. Build
// it with New; it is safe for concurrent use.
type Metrics struct {
	vecs
	origin prometheus.Counter
	byName map[string]*children // read-only after New
}

// vecs are the labelled collectors.
type vecs struct {
	openV                              *prometheus.GaugeVec
	openedV, closedV                   *prometheus.CounterVec
	durationV                          *prometheus.HistogramVec
	msgsIn, bytesIn, msgsOut, bytesOut *prometheus.CounterVec
	conflicts, heartbeats, authRefused *prometheus.CounterVec
	carried                            *prometheus.CounterVec   // transport, outcome
	carriedFirstByte                   *prometheus.HistogramVec // transport
}

// children are one transport's collectors, resolved once.
type children struct {
	open                               prometheus.Gauge
	opened                             prometheus.Counter
	closed                             map[string]prometheus.Counter // by cause
	duration                           prometheus.Observer
	msgsIn, bytesIn, msgsOut, bytesOut prometheus.Counter
	conflicts, heartbeats, authRefused prometheus.Counter
}

var _ sockjs.Events = (*Metrics)(nil)

// collectors is several collectors registered as one, so that a
// Registerer takes all of them or none: a registry checks every
// descriptor of a collector before it records any.
type collectors []prometheus.Collector

// Describe implements prometheus.Collector.
func (cs collectors) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (cs collectors) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}

// New creates the collectors and registers them with reg, all in one
// Register call: on error none of them stays registered. It fails, with
// the registry's error wrapped, when one of the names is taken: by
// another collector, or by another Metrics with the same ConstLabels
// values (a second handler needs its own).
func New(reg prometheus.Registerer, o Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("prometheus: New needs a Registerer (prometheus.DefaultRegisterer or a registry of your own)")
	}
	ns := o.namespace()
	buckets := o.DurationBuckets
	if buckets == nil {
		buckets = DefaultDurationBuckets
	}
	tr := []string{"transport"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help, ConstLabels: o.ConstLabels}, labels)
	}
	m := &Metrics{byName: make(map[string]*children)}
	m.openV = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "sessions_open",
		Help: "SockJS sessions open now, by the transport that opened them.", ConstLabels: o.ConstLabels}, tr)
	m.openedV = counter("sessions_opened_total", "SockJS sessions opened, by the transport that opened them.", tr...)
	m.closedV = counter("sessions_closed_total", "SockJS sessions closed, by transport and cause: "+
		"client (the client closed or went away), timeout (no request came within the disconnect delay, or a websocket stopped answering pings), "+
		"server (the application or a shutdown closed it), write_failed (a write to the client failed), "+
		"slow_consumer (the client fell more than MaxQueuedBytes behind), send_timeout (the application did not read the client's messages within SendTimeout), "+
		"session_lost (this cluster node lost its registration), other.", "transport", "cause")
	m.durationV = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "session_duration_seconds",
		Help: "SockJS session lifetimes, from creation to close, in seconds.", ConstLabels: o.ConstLabels, Buckets: buckets}, tr)
	m.msgsIn = counter("messages_received_total", "Messages the application read from clients (Recv, RecvJSON).", tr...)
	m.bytesIn = counter("received_utf8_bytes_total", "Bytes of the messages the application read from clients, "+
		"counted as the UTF-8 text Recv returned (without JSON quotes or escapes).", tr...)
	m.msgsOut = counter("messages_sent_total", "Messages the application queued for clients (Send, SendJSON, SendMessage; "+
		"a Broadcast counts once per session reached).", tr...)
	m.bytesOut = counter("sent_utf8_bytes_total", "Bytes of the messages the application queued for clients, "+
		"counted as the UTF-8 text given to Send (without JSON quotes or escapes), the unit of received_utf8_bytes_total.", tr...)
	m.conflicts = counter("receiver_conflicts_total", "Receiving requests (poll, stream or websocket) refused with close frame 2010 "+
		`"Another connection still open" because their session already had one: `+
		"two tabs sharing a session id, a client bug, or a proxy retrying a long poll.", tr...)
	m.heartbeats = counter("heartbeats_total", "Heartbeats due on idle connections, one every HeartbeatDelay (h frames; pings on the raw websocket).", tr...)
	m.authRefused = counter("authorization_refused_total", "Session opens refused by Options.Authorize (answered 401 or 403).", tr...)
	m.origin = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "origin_refused_total",
		Help: "Requests refused with 403 by the origin policy: a page of a site not in AllowedOrigins, or a misconfigured list.", ConstLabels: o.ConstLabels})
	m.carried = counter("cluster_carried_requests_total", "Requests of sessions owned by another cluster node that this node carried there, "+
		"by transport and outcome: ok, timeout (the owner went silent for the forward timeout), unreachable (could not be handed to the owner), "+
		"lost (the session's node is gone), aborted (failed on the way), client_gone (the client left first).", "transport", "outcome")
	m.carriedFirstByte = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "cluster_carried_first_byte_seconds",
		Help: "Time until the owner started the response of a carried request, in seconds: for sends (xhr_send, jsonp_send) the cost of carrying; " +
			"for polls and streams also the wait for a message.", ConstLabels: o.ConstLabels, Buckets: CarriedBuckets}, tr)
	all := collectors{m.openV, m.openedV, m.closedV, m.durationV, m.msgsIn, m.bytesIn,
		m.msgsOut, m.bytesOut, m.conflicts, m.heartbeats, m.authRefused, m.origin, m.carried, m.carriedFirstByte}
	if err := reg.Register(all); err != nil {
		return nil, fmt.Errorf("prometheus: registering the %s_* metrics failed and none of them is registered "+
			"(handlers sharing a registry each need their own ConstLabels values): %w", ns, err)
	}
	for _, name := range transportNames {
		m.byName[name] = m.resolve(name)
	}
	return m, nil
}

// MustNew is New for start-up code: it panics on error.
func MustNew(reg prometheus.Registerer, o Options) *Metrics {
	m, err := New(reg, o)
	if err != nil {
		panic(err)
	}
	return m
}

// resolve returns the children of transport.
func (m *Metrics) resolve(transport string) *children {
	c := &children{
		open:        m.openV.WithLabelValues(transport),
		opened:      m.openedV.WithLabelValues(transport),
		closed:      make(map[string]prometheus.Counter, len(closeCauses)+1),
		duration:    m.durationV.WithLabelValues(transport),
		msgsIn:      m.msgsIn.WithLabelValues(transport),
		bytesIn:     m.bytesIn.WithLabelValues(transport),
		msgsOut:     m.msgsOut.WithLabelValues(transport),
		bytesOut:    m.bytesOut.WithLabelValues(transport),
		conflicts:   m.conflicts.WithLabelValues(transport),
		heartbeats:  m.heartbeats.WithLabelValues(transport),
		authRefused: m.authRefused.WithLabelValues(transport),
	}
	for _, cc := range closeCauses {
		c.closed[cc.name] = m.closedV.WithLabelValues(transport, cc.name)
	}
	c.closed[otherCause] = m.closedV.WithLabelValues(transport, otherCause)
	return c
}

// of returns transport's children; a name New did not know (a transport
// added later) is resolved on each call, which is slower but correct.
func (m *Metrics) of(transport string) *children {
	if c, ok := m.byName[transport]; ok {
		return c
	}
	return m.resolve(transport)
}

// causeOf names why a session closed.
func causeOf(err *sockjs.CloseError) string {
	for _, cc := range closeCauses {
		if errors.Is(err, cc.err) {
			return cc.name
		}
	}
	return otherCause
}

// SessionOpened implements sockjs.Events.
func (m *Metrics) SessionOpened(transport string) {
	c := m.of(transport)
	c.open.Inc()
	c.opened.Inc()
}

// SessionClosed implements sockjs.Events.
func (m *Metrics) SessionClosed(transport string, lifetime time.Duration, err *sockjs.CloseError) {
	c := m.of(transport)
	c.open.Dec()
	c.closed[causeOf(err)].Inc()
	c.duration.Observe(lifetime.Seconds())
}

// MessagesIn implements sockjs.Events.
func (m *Metrics) MessagesIn(transport string, n, bytes int) {
	c := m.of(transport)
	c.msgsIn.Add(float64(n))
	c.bytesIn.Add(float64(bytes))
}

// MessagesOut implements sockjs.Events.
func (m *Metrics) MessagesOut(transport string, n, bytes int) {
	c := m.of(transport)
	c.msgsOut.Add(float64(n))
	c.bytesOut.Add(float64(bytes))
}

// AnotherConnection implements sockjs.Events: it counts a receiver
// conflict.
func (m *Metrics) AnotherConnection(transport string) { m.of(transport).conflicts.Inc() }

// Heartbeat implements sockjs.Events.
func (m *Metrics) Heartbeat(transport string) { m.of(transport).heartbeats.Inc() }

// OriginRefused implements sockjs.Events.
func (m *Metrics) OriginRefused(*http.Request) { m.origin.Inc() }

// AuthorizationRefused implements sockjs.Events.
func (m *Metrics) AuthorizationRefused(_ *http.Request, transport string, _ error) {
	m.of(transport).authRefused.Inc()
}

// CarriedRequest implements sockjs.Events. A response that never started
// is counted but has no time to first byte.
func (m *Metrics) CarriedRequest(transport string, firstByte time.Duration, outcome string) {
	m.carried.WithLabelValues(transport, outcome).Inc()
	if firstByte > 0 {
		m.carriedFirstByte.WithLabelValues(transport).Observe(firstByte.Seconds())
	}
}
