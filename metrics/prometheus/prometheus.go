// Package prometheus exports a sockjs.Handler's events as Prometheus
// metrics: plug a Metrics into sockjs.Options.Events and serve the registry
// with promhttp.
//
//	m := prometheus.MustNew(reg, prometheus.Options{})
//	h := sockjs.NewHandler(sockjs.Options{Events: m}, app)
//
// The metrics, all labelled by transport ("websocket", "xhr_streaming",
// "xhr", "eventsource", "htmlfile", "jsonp", "rawwebsocket") except the
// origin refusals, with the namespace "sockjs" unless Options say another:
//
//	sockjs_sessions_open                     gauge: sessions open now
//	sockjs_sessions_opened_total             counter
//	sockjs_sessions_closed_total             counter, also by cause: client,
//	                                         timeout, server, write_failed,
//	                                         slow_consumer, other
//	sockjs_session_duration_seconds          histogram of session lifetimes
//	sockjs_messages_received_total           counter: messages the app read
//	sockjs_received_bytes_total              counter: their UTF-8 bytes
//	sockjs_messages_sent_total               counter: messages queued to clients
//	sockjs_sent_bytes_total                  counter: their JSON-encoded bytes
//	sockjs_another_connection_total          counter: 2010 answers
//	sockjs_heartbeats_total                  counter
//	sockjs_authorization_refused_total       counter
//	sockjs_origin_refused_total              counter (no label)
//
// Each event costs a map lookup and an atomic add; the per-transport
// children are resolved once, at construction. Several handlers can share
// one registry by giving each its own value of the same ConstLabels
// (handler="chat", handler="echo"): Prometheus wants one set of label
// names per metric name.
package prometheus

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sockline/sockline/sockjs"
)

// Options configures New. The zero value is ready to use.
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

// DefaultDurationBuckets spans sessions from a tenth of a second (a
// refused or broken client) to a day (a dashboard left open).
var DefaultDurationBuckets = []float64{0.1, 1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600}

// transportNames are the transports whose children New resolves up front.
var transportNames = []string{"websocket", "xhr_streaming", "xhr", "eventsource", "htmlfile", "jsonp", "rawwebsocket"}

// closeCauses are the values of the cause label, in the order causeOf
// tries them.
var closeCauses = []struct {
	err  error
	name string
}{
	{sockjs.ErrSlowConsumer, "slow_consumer"},
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
	another, heartbeats, authRefused   *prometheus.CounterVec
}

// children are one transport's collectors, resolved once.
type children struct {
	open                               prometheus.Gauge
	opened                             prometheus.Counter
	closed                             map[string]prometheus.Counter // by cause
	duration                           prometheus.Observer
	msgsIn, bytesIn, msgsOut, bytesOut prometheus.Counter
	another, heartbeats, authRefused   prometheus.Counter
}

var _ sockjs.Events = (*Metrics)(nil)

// New creates the collectors and registers them with reg. It fails, with
// the registry's error, when they are already registered (a second
// handler needs its own ConstLabels values).
func New(reg prometheus.Registerer, o Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("prometheus: New needs a Registerer (prometheus.DefaultRegisterer or a registry of your own)")
	}
	ns := o.Namespace
	if ns == "" {
		ns = "sockjs"
	}
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
		Help: "Sessions open now.", ConstLabels: o.ConstLabels}, tr)
	m.openedV = counter("sessions_opened_total", "Sessions opened.", tr...)
	m.closedV = counter("sessions_closed_total", "Sessions closed, by transport and cause.", "transport", "cause")
	m.durationV = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "session_duration_seconds",
		Help: "Session lifetimes, from creation to close.", ConstLabels: o.ConstLabels, Buckets: buckets}, tr)
	m.msgsIn = counter("messages_received_total", "Messages the application read from clients.", tr...)
	m.bytesIn = counter("received_bytes_total", "UTF-8 bytes of the messages the application read.", tr...)
	m.msgsOut = counter("messages_sent_total", "Messages queued for clients.", tr...)
	m.bytesOut = counter("sent_bytes_total", "JSON-encoded bytes of the messages queued for clients.", tr...)
	m.another = counter("another_connection_total", `Receiving requests answered 2010 "Another connection still open".`, tr...)
	m.heartbeats = counter("heartbeats_total", "Heartbeats due on idle connections.", tr...)
	m.authRefused = counter("authorization_refused_total", "Sessions refused by Options.Authorize.", tr...)
	m.origin = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "origin_refused_total",
		Help: "Requests refused by the origin policy.", ConstLabels: o.ConstLabels})
	for _, c := range []prometheus.Collector{m.openV, m.openedV, m.closedV, m.durationV, m.msgsIn, m.bytesIn,
		m.msgsOut, m.bytesOut, m.another, m.heartbeats, m.authRefused, m.origin} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("prometheus: registering the sockjs metrics: %w", err)
		}
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
		another:     m.another.WithLabelValues(transport),
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

// AnotherConnection implements sockjs.Events.
func (m *Metrics) AnotherConnection(transport string) { m.of(transport).another.Inc() }

// Heartbeat implements sockjs.Events.
func (m *Metrics) Heartbeat(transport string) { m.of(transport).heartbeats.Inc() }

// OriginRefused implements sockjs.Events.
func (m *Metrics) OriginRefused(*http.Request) { m.origin.Inc() }

// AuthorizationRefused implements sockjs.Events.
func (m *Metrics) AuthorizationRefused(_ *http.Request, transport string, _ error) {
	m.of(transport).authRefused.Inc()
}
