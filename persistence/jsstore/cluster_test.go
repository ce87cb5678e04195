package jsstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/persistence/jsstore"
	"github.com/weft-run/weft/persistence/storetest"
)

// The suite on a 3-server cluster with every stream and bucket R3: writes
// are acknowledged by a quorum, compare-and-set conflicts come back with
// the replicated error code, reads go to leaders on other servers. A
// subset keeps it bounded: each case creates its seven R3 streams.
func TestConformanceR3(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster")
	}
	nodes := natstest.Cluster(t, 3)
	nc := natstest.Connect(t, natstest.URLs(nodes))
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return openStore(t, nc, jsstore.Options{Replicas: 3})
	}, storetest.Only("Idempotency", "Append", "Signals", "Delete"))
}

// Two nodes on two servers of an R3 cluster: the fence holds across
// servers (JetStream answers a replicated stream's conflict with another
// error code than a single server's).
func TestClusterFencing(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster")
	}
	a, b := twoNodesR3(t)
	create(t, a, "exec_1")
	commit(t, a, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 2, "a")}})
	commit(t, b, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 3, "b")}, Steps: []persistence.Step{{ID: "s", Name: "b"}}})
	err := a.Commit(t.Context(), persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 3, "a")}, Steps: []persistence.Step{{ID: "s", Name: "a"}}})
	if !errors.Is(err, jsstore.ErrFenced) {
		t.Fatalf("A's append after B's = %v, want ErrFenced", err)
	}
	got, err := a.StoredEvents(t.Context(), "exec_1", 2, 0)
	if err != nil || len(got) != 1 || !bytes.Contains(got[0].JSON, []byte(`"b"`)) {
		t.Fatalf("after seq 2: %d events, %v; want B's one", len(got), err)
	}
	if steps, _ := a.Steps(t.Context(), "exec_1"); steps["s"].Name != "b" {
		t.Fatalf("step = %+v, want B's", steps["s"])
	}
}

// Writes go on while the server leading the events stream is stopped
// (the client fails over and the stream elects another leader), and the
// log comes out whole: no gap, no write twice.
func TestClusterSurvivesLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster")
	}
	nodes := natstest.Cluster(t, 3)
	nc := natstest.Connect(t, natstest.URLs(nodes))
	s := openStore(t, nc, jsstore.Options{Replicas: 3, Prefix: "LEADER"})
	create(t, s, "exec_1")

	const writes = 60
	for seq := uint64(2); seq <= writes+1; seq++ {
		if seq == writes/2 {
			leader := eventsLeader(t, nodes, "LEADER_EVENTS")
			leader.Shutdown()
			t.Logf("stopped %s, the events stream's leader", leader.Name())
			defer leader.Restart(t)
		}
		commit(t, s, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", seq, "s")},
			Steps:  []persistence.Step{{ID: fmt.Sprintf("s%d", seq), Name: "step"}},
			Status: &persistence.StatusUpdate{Status: weft.StatusRunning, At: t0.Add(time.Duration(seq))}})
	}
	got, err := s.StoredEvents(t.Context(), "exec_1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writes+1 {
		t.Fatalf("%d events, want %d", len(got), writes+1)
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	steps, err := s.Steps(t.Context(), "exec_1")
	if err != nil || len(steps) != writes {
		t.Fatalf("%d steps, %v; want %d", len(steps), err, writes)
	}
}

// eventsLeader is the node whose server leads the stream.
func eventsLeader(t *testing.T, nodes []*natstest.Node, stream string) *natstest.Node {
	t.Helper()
	js, err := jetstream.New(natstest.Connect(t, natstest.URLs(nodes)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream info: %+v, %v", info, err)
	}
	for _, n := range nodes {
		if n.Name() == info.Cluster.Leader {
			return n
		}
	}
	t.Fatalf("leader %q is none of the nodes", info.Cluster.Leader)
	return nil
}
