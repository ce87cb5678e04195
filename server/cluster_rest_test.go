package server_test

import (
	"testing"
	"time"

	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/server"
)

// TestClusterSharedRest: schedules, the audit trail, workflow stats and
// retention are the cluster's, not a node's. A schedule created on A
// fires once per due time while A, B and C all run their schedulers, and
// goes on firing once A stops; audit records of mutations on A and B are
// listed on C; workflow.stats on C counts runs ended on A and B; an
// execution ended on A is removed by retention and gone on C.
func TestClusterSharedRest(t *testing.T) {
	ns := natstest.Cluster(t, 3)
	retention := func(cfg *server.Config) { cfg.Retention = 2 * time.Second }
	a := bootNode(t, "node-a", ns[0].URL(), retention)
	b := bootNode(t, "node-b", ns[1].URL(), retention)
	c := bootNode(t, "node-c", ns[2].URL(), retention)
	waitMembers(t, 3, a, b, c)
	ca, cb, cc := dial(t, a, adminToken), dial(t, b, adminToken), dial(t, c, adminToken)

	// Stats and audit: runs ended on A and B, read on C.
	before := statsOverSocket(t, cc, map[string]any{"name": "echo", "period": "hour"}).Runs
	onA := endedEcho(t, a, adminToken, "")
	onB := endedEcho(t, b, adminToken, "")
	waitFor(t, 10*time.Second, "workflow.stats on C counts the runs of A and B", func() bool {
		return statsOverSocket(t, cc, map[string]any{"name": "echo", "period": "hour"}).Runs == before+2
	})
	waitFor(t, 10*time.Second, "audit.list on C holds the starts made on A and B", func() bool {
		targets := map[string]bool{}
		for _, r := range auditOf(t, c, adminToken, "&action=workflow.start") {
			targets[r.Target] = true
		}
		return targets[onA] && targets[onB]
	})

	// Retention: A's run is removed, by whichever node sweeps first.
	waitGone(t, c, onA, 20*time.Second)
	waitGone(t, a, onB, 20*time.Second)

	// A schedule created on A, every node's scheduler running.
	id := createSchedule(t, ca, map[string]any{"workflow": "approval", "parameters": map[string]any{"delay_ms": 0}, "every": "1s", "overlap": "allow"})
	created := getSchedule(t, cb, id).CreatedAt
	time.Sleep(time.Until(created.Add(3500 * time.Millisecond)))
	a.stop(t) // B and C go on firing it
	time.Sleep(time.Until(created.Add(6500 * time.Millisecond)))
	cb.mustOK("schedule.pause", map[string]any{"schedule_id": id})

	execs := scheduledExecutions(t, cc, "approval", id)
	dueTimes := map[time.Time]string{}
	for _, e := range execs {
		if other, dup := dueTimes[e.Metadata.ScheduledFor]; dup {
			t.Fatalf("due time %s fired twice: %s and %s", e.Metadata.ScheduledFor, other, e.ExecutionID)
		}
		dueTimes[e.Metadata.ScheduledFor] = e.ExecutionID
	}
	info := getSchedule(t, cc, id)
	if n := len(execs); n < 5 || int64(n) != info.Firings {
		t.Fatalf("%d executions of %d due times in 6.5 s of an every-1s schedule, schedule.get firings %d, want 5 to 7 and equal", n, len(dueTimes), info.Firings)
	}
	for i := range len(execs) {
		want := created.Add(time.Duration(i+1) * time.Second)
		if _, ok := dueTimes[want]; !ok {
			t.Errorf("due time %s (firing %d) has no execution: %v", want, i+1, dueTimes)
		}
	}
	if last := execs[len(execs)-1].Metadata.ScheduledFor; !last.After(created.Add(4 * time.Second)) {
		t.Errorf("last firing at %s: none after A stopped", last)
	}
}
