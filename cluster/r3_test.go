package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/weft-run/weft/cluster"
	"github.com/weft-run/weft/internal/natstest"
)

// On a 3-server JetStream cluster with R3 buckets, stopping the server
// that leads the leases bucket (a leader election) costs no lease: every
// node keeps renewing, nobody loses or re-acquires a partition.
func TestR3LeasesSurviveANATSServerStop(t *testing.T) {
	t.Parallel()
	servers := natstest.Cluster(t, 3)
	urls := natstest.URLs(servers)
	tr := newTracker(t)
	reg := prometheus.NewRegistry()
	var nodes []*testNode
	for _, id := range []string{"n1", "n2", "n3"} {
		nodes = append(nodes, tr.join(t, urls, cluster.Config{NodeID: id, Replicas: 3, Registerer: reg}))
	}
	eventually(t, 30*time.Second, "balanced", func() bool { return balanced(64, nodes...) })
	before := map[string]map[int]cluster.Token{}
	renewalsBefore := map[string]float64{}
	lostBefore := map[string]int{}
	for _, n := range nodes {
		before[n.Self().ID] = n.Owned()
		lostBefore[n.Self().ID] = n.h.lossCount()
		renewalsBefore[n.Self().ID] = counterValue(t, reg, "weft_cluster_lease_renewals_total", n.Self().ID)
	}

	leader := streamLeader(t, nodes[0], "KV_"+cluster.LeasesBucket)
	var stopped *natstest.Node
	for _, s := range servers {
		if s.Name() == leader {
			stopped = s
		}
	}
	if stopped == nil {
		t.Fatalf("leader %q is none of the servers", leader)
	}
	stopped.Shutdown()
	t.Logf("stopped %s, the leases bucket's leader", leader)

	// Long enough for every lease to have needed a renewal through the new
	// leader: had renewals stopped, each would be lost by now.
	time.Sleep(cluster.DefaultLeaseTTL + 2*cluster.DefaultRenewInterval)

	for _, n := range nodes {
		id := n.Self().ID
		if lost := n.h.lossCount() - lostBefore[id]; lost > 0 {
			t.Errorf("%s lost %d partitions during the election", id, lost)
		}
		if got := n.Owned(); !equalTokens(got, before[id]) {
			t.Errorf("%s holds %v after the stop, %v before", id, got, before[id])
		}
		if after := counterValue(t, reg, "weft_cluster_lease_renewals_total", id); after <= renewalsBefore[id] {
			t.Errorf("%s renewed nothing after the stop (%v renewals before, %v after)", id, renewalsBefore[id], after)
		}
		if n.Err() != nil {
			t.Errorf("%s stopped: %v", id, n.Err())
		}
		if got := len(n.Members()); got != 3 {
			t.Errorf("%s sees %d members after the stop, want 3 (heartbeats renew through the new leader too)", id, got)
		}
	}
}

func streamLeader(t *testing.T, n *testNode, stream string) string {
	t.Helper()
	js, err := jetstream.New(n.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream %s is not replicated on 3 servers: %+v", stream, info.Cluster)
	}
	return info.Cluster.Leader
}

func equalTokens(a, b map[int]cluster.Token) bool {
	if len(a) != len(b) {
		return false
	}
	for p, t := range a {
		if b[p] != t {
			return false
		}
	}
	return true
}

// counterValue is the value of the counter name labelled node=node.
func counterValue(t *testing.T, reg *prometheus.Registry, name, node string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == name {
			if m := metricFor(mf, node); m != nil {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{node=%q}", name, node)
	return 0
}

func metricFor(mf *dto.MetricFamily, node string) *dto.Metric {
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "node" && l.GetValue() == node {
				return m
			}
		}
	}
	return nil
}
