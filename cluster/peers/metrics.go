package peers

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-run/weft/metrics"
)

// peerMetrics are one node's collectors, labelled node=<id> like the cluster
// package's, so that several nodes may share a registry (tests).
type peerMetrics struct {
	set        *metrics.Set
	requests   *prometheus.CounterVec
	unanswered *prometheus.CounterVec
	dropped    prometheus.Counter
	malformed  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, nodeID string) (*peerMetrics, error) {
	labels := prometheus.Labels{"node": nodeID}
	m := &peerMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_cluster_peer_requests_total",
			Help: "Requests this node sent to the other nodes, by operation (broadcast, room_size, members, connections, send, close).", ConstLabels: labels},
			[]string{"op"}),
		unanswered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_cluster_peer_unanswered_total",
			Help: "Nodes that did not answer a request of this node in time (its answer was partial), by operation.", ConstLabels: labels},
			[]string{"op"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_cluster_peer_presence_dropped_total",
			Help: "Presence changes (room.joined, room.left) not sent to the other nodes: no NATS connection, or too many queued.", ConstLabels: labels}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_cluster_peer_malformed_total",
			Help: "Messages on the peers' subjects that could not be decoded (ignored).", ConstLabels: labels}),
	}
	set, err := metrics.RegisterSet(reg, m.requests, m.unanswered, m.dropped, m.malformed)
	if err != nil {
		return nil, err
	}
	m.set = set
	return m, nil
}

func (m *peerMetrics) unregister() { m.set.Unregister() }
