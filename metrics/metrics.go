// Package metrics defines weft's Prometheus metrics in one place, so
// /metrics documents itself and every component counts the same way.
// Components get a *Metrics from the server; all collectors are safe for
// concurrent use.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector weft exports.
type Metrics struct {
	Registry *prometheus.Registry

	ConnectionsOpened   prometheus.Counter
	ConnectionsActive   prometheus.Gauge
	ConnectionsRejected *prometheus.CounterVec // by reason
	Disconnects         *prometheus.CounterVec // by close code
	MessagesReceived    prometheus.Counter
	MessagesSent        prometheus.Counter

	Broadcasts          prometheus.Counter
	BroadcastRecipients prometheus.Counter

	ExecutionsStarted *prometheus.CounterVec // by workflow
	ExecutionsEnded   *prometheus.CounterVec // by workflow and status
	ExecutionsRunning prometheus.Gauge
	ExecutionsDeleted *prometheus.CounterVec // by reason: retention, api
	ExecutionsQueued  prometheus.Gauge
	// ExecutionsPassivated counts waiting executions whose actor is
	// stopped (a wake-heap entry at most); ExecutionActors the execution
	// actors alive (running, or suspended and still warm).
	ExecutionsPassivated prometheus.Gauge
	ExecutionActors      prometheus.Gauge
	Schedules            *prometheus.GaugeVec     // by state: active, paused
	StepDuration         *prometheus.HistogramVec // by kind
	StoreCommitLatency   prometheus.Histogram
	StoreCommitWrites    prometheus.Histogram
	StoreWritable        prometheus.Gauge
	ExecutionStalls      prometheus.Counter
	// OrphansStarted counts unfinished executions a cluster node found
	// with no actor and started (actors/cluster_orphans.go): each one
	// means a take-over or an import missed it. Alert on any.
	OrphansStarted  prometheus.Counter
	EventsPublished prometheus.Counter
}

// New creates the collectors on a fresh registry, with Go runtime and
// process metrics (RSS per connection is read from there).
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{reg}
	return &Metrics{
		Registry:            reg,
		ConnectionsOpened:   f.counter("weft_connections_total", "WebSocket connections accepted."),
		ConnectionsActive:   f.gauge("weft_connections_active", "WebSocket connections open now."),
		ConnectionsRejected: f.counterVec("weft_connections_rejected_total", "Connections refused, by reason.", "reason"),
		Disconnects:         f.counterVec("weft_disconnects_total", "Connections closed, by close code.", "code"),
		MessagesReceived:    f.counter("weft_messages_received_total", "Frames received from clients."),
		MessagesSent:        f.counter("weft_messages_sent_total", "Frames sent to clients."),
		Broadcasts:          f.counter("weft_broadcasts_total", "Room broadcasts."),
		BroadcastRecipients: f.counter("weft_broadcast_recipients_total", "Connections a broadcast was delivered to."),
		ExecutionsStarted:   f.counterVec("weft_executions_started_total", "Executions started, by workflow.", "workflow"),
		ExecutionsEnded:     f.counterVec("weft_executions_ended_total", "Executions ended, by workflow and final status.", "workflow", "status"),
		ExecutionsDeleted:   f.counterVec("weft_executions_deleted_total", "Ended executions removed, by reason (retention, api).", "reason"),
		ExecutionsRunning:   f.gauge("weft_executions_running", "Executions whose workflow code is running now."),
		ExecutionsQueued:    f.gauge("weft_executions_queued", "Executions waiting for a concurrency slot."),
		ExecutionsPassivated: f.gauge("weft_executions_passivated",
			"Waiting executions with no actor in memory (a wake-time entry at most), woken when due, signalled or cancelled."),
		ExecutionActors: f.gauge("weft_execution_actors", "Execution actors alive: running, or waiting and still warm."),
		Schedules:       f.gaugeVec("weft_schedules", "Schedules, by state (active, paused).", "state"),
		StepDuration: f.histogramVec("weft_step_duration_seconds", "Duration of durable steps, by kind (task, llm, tool).",
			prometheus.ExponentialBuckets(0.0005, 2, 18), "kind"),
		StoreCommitLatency: f.histogram("weft_store_commit_seconds", "Latency of one group commit (fsync included).",
			prometheus.ExponentialBuckets(0.0001, 2, 16)),
		StoreCommitWrites: f.histogram("weft_store_commit_writes", "Writes packed into one group commit.",
			prometheus.ExponentialBuckets(1, 2, 12)),
		EventsPublished: f.counter("weft_events_published_total", "Execution events published on the bus."),
		StoreWritable:   f.gauge("weft_store_writable", "1 while the store commits, 0 while it cannot write (a full disk)."),
		ExecutionStalls: f.counter("weft_execution_stalls_total", "Executions stopped by a failed store write or load, to be retried with backoff."),
		OrphansStarted:  f.counter("weft_orphaned_executions_started_total", "Unfinished executions of this node's partitions found with no actor and started (cluster mode): a take-over or an import missed them."),
	}
}

// CloseCode labels a close code.
func CloseCode(code int) string { return strconv.Itoa(code) }

type factory struct{ reg prometheus.Registerer }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
