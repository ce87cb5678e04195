package server_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/persistence/jsstore"
	"github.com/weft-run/weft/server"
)

// TestClusterExecutionsAcrossNodes: a start on A runs on A; B subscribes
// after a stored seq and gets the rest with no gap and no duplicate; C
// signals and cancels A's executions; an idempotency key holds across
// nodes; A's graceful shutdown hands its executions to B and C, which
// finish them without running a completed step again.
func TestClusterExecutionsAcrossNodes(t *testing.T) {
	_, a, b, c := threeNodes(t, nil)
	ca, cb, cc := dial(t, a, adminToken), dial(t, b, adminToken), dial(t, c, adminToken)

	// Start on A, subscribe on B after seq 4: the rest, in order, live.
	{
		id := startCountdown(t, ca, "start", 15, 20)
		var after uint64
		for after < 4 {
			time.Sleep(10 * time.Millisecond)
			f := cb.call("peek", "execution.get", map[string]any{"execution_id": id})
			after = decode[subscribeResponse](t, f.Response).LastSeq
		}
		cb.request("sub", "execution.subscribe", map[string]any{"execution_id": id, "after_seq": after})
		frames := cb.readUntilComplete("sub")
		checkSeqs(t, frames, after+1)
		// Not a fixed seq: while the nodes rebalance their partitions the
		// execution may move, and the step it was running then starts again
		// on the new owner (an extra task_start); completed ones do not.
		if last := frames[len(frames)-1]; last.Type != "execution_completed" {
			t.Fatalf("last frame on B = %s seq %d, want execution_completed", last.Type, last.event(t).Seq)
		}
		checkOneEndPerStep(t, cb, id)
	}

	// Signal from C to an approval waiting on A.
	{
		f := ca.call("ap", "workflow.start", map[string]any{"name": "approval", "parameters": map[string]any{"delay_ms": 0}, "subscribe": false})
		id := decode[struct {
			ExecutionID string `json:"execution_id"`
		}](t, f.Response).ExecutionID
		waitStatus(t, cc, id, "waiting")
		sig := cc.call("sig", "execution.signal", map[string]any{"execution_id": id, "name": "approve", "payload": map[string]any{"ok": true}})
		if sig.Error != nil {
			t.Fatalf("signal from C: %+v", sig.Error)
		}
		waitStatus(t, cb, id, "completed")
	}

	// Cancel from C of a long countdown running on A.
	{
		id := startCountdown(t, ca, "long", 1000, 50)
		f := cc.call("cancel", "execution.cancel", map[string]any{"execution_id": id, "reason": "from C"})
		if f.Error != nil {
			t.Fatalf("cancel from C: %+v", f.Error)
		}
		waitStatus(t, ca, id, "cancelled")
	}

	// One idempotency key, two nodes: one execution.
	{
		start := func(cl *client, rid string) string {
			f := cl.call(rid, "workflow.start", map[string]any{"name": "countdown", "parameters": map[string]any{"steps": 1, "delay_ms": 0},
				"idempotency_key": "once", "subscribe": false})
			if f.Error != nil {
				t.Fatalf("start with key: %+v", f.Error)
			}
			return decode[struct {
				ExecutionID string `json:"execution_id"`
			}](t, f.Response).ExecutionID
		}
		if x, y := start(ca, "k1"), start(cb, "k2"); x != y {
			t.Fatalf("idempotency key on A gave %s, on B %s", x, y)
		}
	}

	// Graceful shutdown of A: B and C resume its executions at once.
	{
		ids := make([]string, 6)
		for i := range ids {
			ids[i] = startCountdown(t, ca, "h"+string(rune('a'+i)), 40, 50)
		}
		time.Sleep(300 * time.Millisecond) // some steps done on A
		a.stop(t)
		for _, id := range ids {
			waitStatus(t, cb, id, "completed")
			checkOneEndPerStep(t, cc, id)
		}
	}
}

// checkOneEndPerStep reads an execution's whole history: gapless seqs and
// one task_end per step id.
func checkOneEndPerStep(t *testing.T, cl *client, id string) {
	t.Helper()
	cl.request("all", "execution.subscribe", map[string]any{"execution_id": id, "after_seq": 0})
	frames := cl.readUntilComplete("all")
	checkSeqs(t, frames, 1)
	ends := map[string]int{}
	for _, f := range frames[1:] {
		if f.Type == "task_end" {
			d := decode[struct {
				StepID string `json:"step_id"`
			}](t, f.event(t).Details)
			ends[d.StepID]++
		}
	}
	for step, n := range ends {
		if n != 1 {
			t.Errorf("%s: step %s has %d task_end events", id, step, n)
		}
	}
}

// TestClusterStartsOrphanedExecutions: an unfinished execution stored in
// a partition this node holds, without the node being told (as if a
// take-over had missed it), is found by the orphan check and run to its
// end.
func TestClusterStartsOrphanedExecutions(t *testing.T) {
	srv := natstest.Server(t)
	solo := bootNode(t, "solo", srv.URL(), func(cfg *server.Config) { cfg.Cluster.OrphanCheck = 200 * time.Millisecond })
	c := dial(t, solo, adminToken)
	waitFor(t, 10*time.Second, "the node holds its partitions (all of them)", func() bool {
		f := c.call("ready", "workflow.start", map[string]any{"name": "countdown", "parameters": map[string]any{"steps": 1, "delay_ms": 0}, "subscribe": false})
		return f.Error == nil
	})

	js, err := jsstore.Open(t.Context(), natstest.Connect(t, srv.URL()), jsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.Close() })
	created := time.Now().Add(-time.Minute).UTC()
	store := func(workflow string) string {
		t.Helper()
		exec := persistence.Execution{
			ID: weft.NewID("exec_"), Workspace: "acme", Workflow: workflow, Status: weft.StatusRunning,
			Parameters: json.RawMessage(`{"steps":3,"delay_ms":0}`), Metadata: json.RawMessage(`{}`),
			CreatedAt: created, UpdatedAt: created,
		}
		first := events.Event{Type: events.ExecutionStarted, Data: events.Data{
			Timestamp: created, ExecutionID: exec.ID, Workflow: exec.Workflow, Seq: 1,
			Details: json.RawMessage(`{"parameters":{"steps":3,"delay_ms":0}}`),
		}}
		if existing, err := js.CreateExecution(t.Context(), exec, first); err != nil || existing != nil {
			t.Fatalf("CreateExecution = %v, %v", existing, err)
		}
		return exec.ID
	}
	// One of a workflow this binary lacks, which waits for a deploy that
	// has it: not an orphan, not started again and again.
	store("not-registered-here")
	id := store("countdown")
	waitStatus(t, c, id, "completed")
	checkOneEndPerStep(t, c, id)
	time.Sleep(time.Second) // five more checks
	if got := metricValue(t, scrape(t, solo), "weft_orphaned_executions_started_total"); got != 1 {
		t.Errorf("weft_orphaned_executions_started_total = %v, want 1 (the countdown)", got)
	}
}
