package cluster

import (
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-run/weft/metrics"
)

// Reasons a partition stops being this node's, the label of
// weft_cluster_leases_lost_total and the argument of Handler.Lost.
type LossReason string

const (
	// Released: this node gave the lease back on purpose (a graceful
	// shutdown, or a rebalance towards a node that joined).
	Released LossReason = "released"
	// Expired: the lease could not be renewed before its deadline (no NATS
	// connection, a slow or paused node); another node may hold it now.
	Expired LossReason = "expired"
	// Taken: the lease's revision changed under this node: someone else
	// holds it (its renewal compare-and-set failed).
	Taken LossReason = "taken"
	// Stopped: the node stopped without releasing (its context ended, or
	// its node id was taken over); the lease expires on the server.
	Stopped LossReason = "stopped"
)

// nodeMetrics are one node's collectors, labelled node=<id> so that several
// nodes may share a registry (tests, or one process per node in a pod).
type nodeMetrics struct {
	set          *metrics.Set
	owned        prometheus.Gauge
	members      prometheus.Gauge
	acquisitions prometheus.Counter
	renewals     prometheus.Counter
	lost         *prometheus.CounterVec
}

func newNodeMetrics(reg prometheus.Registerer, nodeID string, nc *nats.Conn) (*nodeMetrics, error) {
	labels := prometheus.Labels{"node": nodeID}
	m := &nodeMetrics{
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "weft_cluster_partitions_owned",
			Help: "Partitions whose lease this node holds.", ConstLabels: labels}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{Name: "weft_cluster_members",
			Help: "Live nodes this node sees in the nodes bucket.", ConstLabels: labels}),
		acquisitions: prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_cluster_lease_acquisitions_total",
			Help: "Partition leases this node acquired.", ConstLabels: labels}),
		renewals: prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_cluster_lease_renewals_total",
			Help: "Successful lease renewals.", ConstLabels: labels}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_cluster_leases_lost_total",
			Help: "Partition leases this node stopped holding, by reason (released, expired, taken, stopped).", ConstLabels: labels},
			[]string{"reason"}),
	}
	reconnects := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_cluster_nats_reconnects_total",
		Help: "Times this node's NATS connection reconnected.", ConstLabels: labels},
		func() float64 { return float64(nc.Stats().Reconnects) })
	set, err := metrics.RegisterSet(reg, m.owned, m.members, m.acquisitions, m.renewals, m.lost, reconnects)
	if err != nil {
		return nil, err
	}
	m.set = set
	return m, nil
}

// unregister removes the collectors, so a node restarted in the same
// process (tests, an embedding app) can register again.
func (m *nodeMetrics) unregister() { m.set.Unregister() }
