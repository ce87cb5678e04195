package cluster_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/weft-run/weft/cluster"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/internal/tcpproxy"
)

func TestThreeNodesShareSixtyFourPartitions(t *testing.T) {
	srv := natstest.Server(t)
	tr := newTracker(t)
	reg := prometheus.NewRegistry()
	var nodes []*testNode
	for _, id := range []string{"n1", "n2", "n3"} {
		cfg := cluster.Config{NodeID: id, Address: "127.0.0.1:80" + id[1:], Registerer: reg}
		nodes = append(nodes, tr.join(t, srv.URL(), cfg))
	}
	eventually(t, 20*time.Second, "64 partitions spread over 3 nodes, at most 22 each", func() bool {
		return balanced(64, nodes...)
	})
	t.Logf("spread: %s", counts(nodes...))

	for _, n := range nodes {
		members := n.Members()
		if len(members) != 3 || members[0].ID != "n1" || members[2].Address != "127.0.0.1:803" {
			t.Errorf("%s sees members %+v", n.Self().ID, members)
		}
	}
	var owned float64
	for _, n := range nodes {
		g, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		owned += gaugeValue(t, g, "weft_cluster_partitions_owned", n.Self().ID)
	}
	if owned != 64 {
		t.Errorf("weft_cluster_partitions_owned sums to %v over the nodes, want 64", owned)
	}
	g, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range g {
		if mf.GetName() == "weft_cluster_nats_reconnects_total" && len(mf.GetMetric()) != 3 {
			t.Errorf("%d reconnect counters, want one per node", len(mf.GetMetric()))
		}
	}
}

// A graceful shutdown deletes the leases, so the others take them without
// waiting for the TTL: well before it would have run out.
func TestGracefulShutdownHandsOverAtOnce(t *testing.T) {
	srv := natstest.Server(t)
	tr := newTracker(t)
	var nodes []*testNode
	for _, id := range []string{"n1", "n2", "n3"} {
		nodes = append(nodes, tr.join(t, srv.URL(), cluster.Config{NodeID: id}))
	}
	eventually(t, 20*time.Second, "balanced", func() bool { return balanced(64, nodes...) })
	leaving, stay := nodes[0], nodes[1:]
	had := leaving.h.ownedCount()
	releasedBefore := len(leaving.h.losses(cluster.Released)) // a rebalance's, when the others joined

	start := time.Now()
	if err := leaving.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	eventually(t, 20*time.Second, "the two others hold all 64", func() bool { return holdAll(64, stay...) })
	took := time.Since(start)
	t.Logf("%d partitions handed over in %v", had, took)
	if took >= cluster.DefaultLeaseTTL/2 {
		t.Errorf("hand-over took %v: the leases were not released, they expired", took)
	}
	if got := len(leaving.h.losses(cluster.Released)) - releasedBefore; got != had {
		t.Errorf("the leaving node reported %d Released, want %d", got, had)
	}
	if leaving.Err() != nil || len(leaving.Owned()) != 0 {
		t.Errorf("after Shutdown: Err %v, owned %v", leaving.Err(), leaving.Owned())
	}
	for _, n := range stay {
		if got := len(n.Members()); got != 2 {
			t.Errorf("%s sees %d members after the shutdown, want 2", n.Self().ID, got)
		}
	}
	if err := leaving.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// A node that dies without releasing (its goroutine stopped, or its NATS
// connection gone) loses its partitions to the others within the lease
// TTL plus a renew interval: the 15 s PROTOCOL.md section 11 promises.
func TestDeadNodePartitionsTakenWithinFifteenSeconds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		kill func(*testNode)
	}{
		{"goroutine stopped", func(n *testNode) { n.kill() }},
		{"connection closed", func(n *testNode) { n.nc.Close() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := natstest.Server(t)
			tr := newTracker(t)
			var nodes []*testNode
			for _, id := range []string{"n1", "n2", "n3"} {
				nodes = append(nodes, tr.join(t, srv.URL(), cluster.Config{NodeID: id}))
			}
			eventually(t, 20*time.Second, "balanced", func() bool { return balanced(64, nodes...) })
			dead, rest := nodes[0], nodes[1:]

			start := time.Now()
			tt.kill(dead)
			eventually(t, 40*time.Second, "the survivors hold all 64", func() bool { return holdAll(64, rest...) })
			took := time.Since(start)
			t.Logf("partitions of the dead node taken in %v", took)
			if limit := 15 * time.Second; took > limit {
				t.Errorf("take-over took %v, over %v", took, limit)
			}
			eventually(t, 20*time.Second, "the dead node holds nothing", func() bool { return len(dead.Owned()) == 0 })
			<-dead.Done() // a closed connection stops the node too
			if dead.Err() == nil {
				t.Error("the dead node stopped without an error")
			}
			eventually(t, 20*time.Second, "balanced over the survivors", func() bool { return balanced(64, rest...) })
		})
	}
}

// A node cut off from NATS gives its leases up (Lost, Expired) before the
// server frees them, the others take them, and once the network is back
// the node rejoins and gets a share again.
func TestConnectionLossReportsLost(t *testing.T) {
	srv := natstest.Server(t)
	proxy, err := tcpproxy.New(strings.TrimPrefix(srv.URL(), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	tr := newTracker(t)
	cut := tr.join(t, "nats://"+proxy.Addr(), fastConfig("cut"))
	other := tr.join(t, srv.URL(), fastConfig("other"))
	eventually(t, 20*time.Second, "balanced", func() bool { return balanced(64, cut, other) })
	had := cut.Owned()
	if l := cut.h.losses(cluster.Expired); len(l) > 0 {
		t.Errorf("%d leases expired before the cut: %+v", len(l), l)
	}
	expiredBefore := len(cut.h.losses(cluster.Expired))

	proxy.Block(true)
	proxy.Cut()
	eventually(t, 20*time.Second, "the cut node reports its leases lost", func() bool { return len(cut.Owned()) == 0 })
	for p, tok := range had {
		if cut.Holds(p, tok) {
			t.Errorf("the cut node still holds partition %d", p)
		}
	}
	if got := len(cut.h.losses(cluster.Expired)) - expiredBefore; got != len(had) {
		t.Errorf("%d Expired losses, want %d", got, len(had))
	}
	eventually(t, 20*time.Second, "the other node holds all 64", func() bool { return holdAll(64, other) })

	proxy.Block(false)
	eventually(t, 30*time.Second, "the cut node is back with its share", func() bool { return balanced(64, cut, other) })
	if cut.Err() != nil {
		t.Errorf("the cut node stopped: %v", cut.Err())
	}
}

// A node whose goroutine is held up (a long pause) past its lease's
// deadline stops holding it while paused, another node takes it, and the
// paused node hears Lost once it runs again.
func TestPausedNodeLosesItsLease(t *testing.T) {
	srv := natstest.Server(t)
	tr := newTracker(t)
	cfg := fastConfig("paused")
	cfg.Partitions = 2
	h := tr.handler("paused")
	release := make(chan struct{})
	var once sync.Once
	first := make(chan acquisition, 1)
	h.onAcquired = func(p int, tok cluster.Token) {
		once.Do(func() {
			first <- acquisition{p: p, tok: tok}
			<-release // the node's goroutine is stuck here
		})
	}
	paused, err := tr.joinOn(t, natstest.Connect(t, srv.URL()), cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	a := <-first
	otherCfg := fastConfig("other")
	otherCfg.Partitions = 2
	other := tr.join(t, srv.URL(), otherCfg)

	eventually(t, 20*time.Second, "the other node takes the paused node's partition", func() bool {
		_, ok := other.Owned()[a.p]
		return ok
	})
	if paused.Holds(a.p, a.tok) {
		t.Errorf("the paused node still holds partition %d after another took it", a.p)
	}
	close(release)
	eventually(t, 20*time.Second, "the paused node hears it lost the partition", func() bool {
		return len(h.losses(cluster.Expired))+len(h.losses(cluster.Taken)) > 0
	})
	// Rebalancing may give the partition back to the paused node: only
	// under a new lease.
	eventually(t, 20*time.Second, "balanced", func() bool { return balanced(2, paused, other) })
	for _, n := range []*testNode{paused, other} {
		if tok, ok := n.Owned()[a.p]; ok && tok <= a.tok {
			t.Errorf("%s holds partition %d with token %d, not above the paused lease's %d", n.Self().ID, a.p, tok, a.tok)
		}
	}
}

// Nodes racing for one partition: one wins each time (the tracker fails
// the test if two hold it at once), and after each owner's shutdown
// another takes it.
func TestOnePartitionManyNodes(t *testing.T) {
	srv := natstest.Server(t)
	tr := newTracker(t)
	nodes := make([]*testNode, 5)
	var wg sync.WaitGroup
	for i := range nodes {
		cfg := fastConfig(string(rune('a' + i)))
		cfg.Partitions = 1
		nc := natstest.Connect(t, srv.URL())
		h := tr.handler(cfg.NodeID)
		wg.Go(func() {
			n, err := tr.joinOn(t, nc, cfg, h)
			if err != nil {
				t.Errorf("join %s: %v", cfg.NodeID, err)
				return
			}
			nodes[i] = n
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	alive := nodes
	for len(alive) > 1 {
		var owner *testNode
		eventually(t, 20*time.Second, "one node holds partition 0", func() bool {
			owner = nil
			holders := 0
			for _, n := range alive {
				if len(n.Owned()) == 1 {
					owner, holders = n, holders+1
				}
			}
			return holders == 1
		})
		if err := owner.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		alive = slicesDelete(alive, owner)
	}
}

func slicesDelete(ns []*testNode, n *testNode) []*testNode {
	var out []*testNode
	for _, m := range ns {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

func TestConfigMismatchRefused(t *testing.T) {
	srv := natstest.Server(t)
	tr := newTracker(t)
	tr.join(t, srv.URL(), cluster.Config{NodeID: "first"})
	tests := []struct {
		name string
		cfg  cluster.Config
		want string
	}{
		{"partition count", cluster.Config{NodeID: "second", Partitions: 32}, "configured with 32 partitions"},
		{"lease TTL", cluster.Config{NodeID: "second", LeaseTTL: 20 * time.Second}, "lease TTL is 20s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tr.joinOn(t, natstest.Connect(t, srv.URL()), tt.cfg, tr.handler(tt.cfg.NodeID))
			if !errors.Is(err, cluster.ErrConfigMismatch) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Join: %v, want ErrConfigMismatch saying %q", err, tt.want)
			}
		})
	}
}

func TestDuplicateNodeIDRefused(t *testing.T) {
	srv := natstest.Server(t)
	tr := newTracker(t)
	cfg := fastConfig("twin")
	cfg.Address = "10.0.0.1:8080"
	first := tr.join(t, srv.URL(), cfg)
	cfg.Address = "10.0.0.2:8080"
	_, err := tr.joinOn(t, natstest.Connect(t, srv.URL()), cfg, tr.handler("twin-2"))
	if !errors.Is(err, cluster.ErrDuplicateNode) || !strings.Contains(err.Error(), "10.0.0.1:8080") {
		t.Fatalf("second Join: %v, want ErrDuplicateNode naming the live node's address", err)
	}
	if first.Err() != nil {
		t.Errorf("the first node stopped: %v", first.Err())
	}
}

// A node restarted with the same id after a crash takes its id back from
// the stale heartbeat, but runs nothing before it holds each lease anew:
// the earlier run's leases are not adopted, they expire first.
func TestRestartedNodeWaitsForItsLeases(t *testing.T) {
	srv := natstest.Server(t)
	tr := newTracker(t)
	cfg := fastConfig("phoenix")
	cfg.Partitions = 8
	before := tr.join(t, srv.URL(), cfg)
	eventually(t, 20*time.Second, "it holds all 8", func() bool { return holdAll(8, before) })
	oldTokens := before.Owned()
	oldInstance := before.Self().Instance
	before.kill()
	<-before.Done()

	nc := natstest.Connect(t, srv.URL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), cluster.LeasesBucket)
	if err != nil {
		t.Fatal(err)
	}
	h := tr.handler("phoenix-2")
	var mu sync.Mutex
	var adopted []int
	h.onAcquired = func(p int, _ cluster.Token) {
		e, err := kv.Get(context.Background(), "p."+strconv.Itoa(p))
		if err == nil && strings.Contains(string(e.Value()), oldInstance) {
			mu.Lock()
			adopted = append(adopted, p)
			mu.Unlock()
		}
	}
	after, err := tr.joinOn(t, nc, cfg, h)
	if err != nil {
		t.Fatalf("restart with the same id: %v", err)
	}
	eventually(t, 20*time.Second, "the restarted node holds all 8", func() bool { return holdAll(8, after) })
	for p, tok := range after.Owned() {
		if tok <= oldTokens[p] {
			t.Errorf("partition %d: token %d after the restart, not above %d before", p, tok, oldTokens[p])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(adopted) > 0 {
		t.Errorf("partitions %v were acquired while their lease still named the crashed run", adopted)
	}
}

// gaugeValue is the value of the gauge name labelled node=node.
func gaugeValue(t *testing.T, families []*dto.MetricFamily, name, node string) float64 {
	t.Helper()
	for _, mf := range families {
		if mf.GetName() == name {
			if m := metricFor(mf, node); m != nil {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{node=%q}", name, node)
	return 0
}

// Fencing by revision: when a lease's key is written by anyone else, the
// holder hears Lost(Taken) and Holds turns false, long before its
// deadline would have; the partition comes back only under a new lease.
func TestOverwrittenLeaseIsLost(t *testing.T) {
	srv := natstest.Server(t)
	tr := newTracker(t)
	cfg := cluster.Config{NodeID: "n1", Partitions: 4}
	n := tr.join(t, srv.URL(), cfg)
	eventually(t, 20*time.Second, "it holds all 4", func() bool { return holdAll(4, n) })
	tok := n.Owned()[2]

	_, kv := leasesBucket(t, srv.URL())
	if _, err := kv.Put(context.Background(), "p.2", []byte(`{"node":"intruder","instance":"inst_x"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "Lost(2, Taken)", func() bool {
		for _, l := range n.h.losses(cluster.Taken) {
			if l.p == 2 {
				return true
			}
		}
		return false
	})
	if n.Holds(2, tok) {
		t.Error("Holds(2) is still true after the lease was overwritten")
	}
	if got := len(n.Owned()); got != 3 {
		t.Errorf("owns %d partitions, want the 3 others", got)
	}
}

// A node's goroutines (its owner, its watchers' subscriptions) end with
// it, on either stop.
func TestNodeLeavesNoGoroutine(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.URL())
	tr := newTracker(t)
	// A first node creates the buckets, whose streams' goroutines live in
	// the server as long as it does.
	warm, err := tr.joinOn(t, nc, fastConfig("warm-up"), tr.handler("warm-up"))
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, stop := range []string{"shutdown", "context"} {
		t.Run(stop, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			n, err := tr.joinOn(t, nc, fastConfig("n-"+stop), tr.handler(stop))
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, "it holds all 64", func() bool { return holdAll(64, n) })
			if stop == "shutdown" {
				if err := n.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
			} else {
				n.kill()
			}
			<-n.Done()
			goleak.VerifyNone(t, before)
		})
	}
}
