package server_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/weft-run/weft/server"
)

// TestClusterRerunExportImport: a rerun on B of an execution that ran on A
// reuses A's completed steps and completes; C exports A's execution as A
// does; a file of executions unfinished on a single server, imported on B,
// resumes on the nodes holding their partitions and completes, and
// importing it again skips every record.
func TestClusterRerunExportImport(t *testing.T) {
	_, a, b, c := threeNodes(t, nil)
	ca, cb, cc := dial(t, a, adminToken), dial(t, b, adminToken), dial(t, c, adminToken)

	orig := startCountdown(t, ca, "orig", 4, 1)
	waitStatus(t, ca, orig, "completed")

	// Rerun on B from step 3: steps 1 and 2 are reused, 3 and 4 run.
	{
		f := cb.call("rerun", "execution.rerun", map[string]any{"execution_id": orig, "from_step": 3, "subscribe": false})
		if f.Error != nil {
			t.Fatalf("rerun on B: %+v", f.Error)
		}
		rerun := decode[subscribeResponse](t, f.Response).ExecutionID
		waitStatus(t, cc, rerun, "completed")
		ends := taskEnds(t, cc, rerun)
		if ends["1"]+ends["2"] != 0 || ends["3"] != 1 || ends["4"] != 1 {
			t.Fatalf("rerun from step 3 ran steps %v, want 3 and 4 once each", ends)
		}
	}

	// Export on C of A's execution: the same record as on A.
	{
		onC, onA := exportLine(t, c, adminToken, orig), exportLine(t, a, adminToken, orig)
		rec := decode[portable](t, onC)
		if rec.Execution.ID != orig || rec.Execution.Status != "completed" || len(rec.Steps) == 0 ||
			rec.Execution.LastSeq != uint64(len(rec.Events)) {
			t.Fatalf("export on C: %s", onC)
		}
		if !bytes.Equal(onC, onA) {
			t.Fatalf("export on C differs from A's:\n%s\n%s", onC, onA)
		}
	}

	// Import on B of executions left unfinished on a single server.
	{
		single := startServer(t, "")
		cs := dial(t, single, adminToken)
		var ids []string
		for i := range 6 {
			ids = append(ids, startCountdown(t, cs, "u"+string(rune('a'+i)), 8, 40))
		}
		var file []byte
		for _, id := range ids {
			for getExecution(t, cs, id).LastSeq < 4 { // a step or so done
				time.Sleep(10 * time.Millisecond)
			}
			line := exportLine(t, single, adminToken, id)
			if st := decode[portable](t, line).Execution.Status; st != "running" {
				t.Fatalf("exported %s %s, want running", id, st)
			}
			file = append(append(file, line...), '\n')
		}
		single.stop(t)

		r := importBody(t, b, adminToken, file)
		r.expectStatus(t, http.StatusOK)
		if res := decode[importResult](t, r.body); res.Imported != len(ids) || res.Skipped != 0 {
			t.Fatalf("import on B = %s, want %d imported", r.body, len(ids))
		}
		for _, id := range ids {
			waitStatus(t, cc, id, "completed")
			checkOneEndPerStep(t, ca, id)
		}
		r = importBody(t, c, adminToken, file)
		r.expectStatus(t, http.StatusOK)
		if res := decode[importResult](t, r.body); res.Imported != 0 || res.Skipped != len(ids) {
			t.Fatalf("the same import on C = %s, want %d skipped", r.body, len(ids))
		}
	}
}

type importResult struct {
	Imported int `json:"imported"`
	Skipped  int `json:"skipped"`
}

// taskEnds counts the task_end events of an execution's history by step.
func taskEnds(t *testing.T, cl *client, id string) map[string]int {
	t.Helper()
	cl.request("ends", "execution.subscribe", map[string]any{"execution_id": id, "after_seq": 0})
	frames := cl.readUntilComplete("ends")
	checkSeqs(t, frames, 1)
	ends := map[string]int{}
	for _, f := range frames[1:] {
		if f.Type == "task_end" {
			ends[decode[struct {
				StepID string `json:"step_id"`
			}](t, f.event(t).Details).StepID]++
		}
	}
	return ends
}

// TestClusterUnfinishedQuotaShares: with a quota of 6 unfinished
// executions per workspace, each of 3 nodes holding about a third of the
// partitions takes about a third of it (not 6 each, as when every node
// counted alone): the workspace holds 6 to 8 cluster-wide (each share is
// rounded up), and an execution that ends frees a place on its node.
func TestClusterUnfinishedQuotaShares(t *testing.T) {
	const quota = 6
	_, a, b, c := threeNodes(t, func(cfg *server.Config) { cfg.Quotas.ExecutionsPerWorkspace = quota })
	nodes := []*testServer{a, b, c}
	waitBalanced(t, 64, nodes...)

	total := 0
	var first []string // an execution on each node
	for i, ts := range nodes {
		cl := dial(t, ts, adminToken)
		var ids []string
		for {
			f := cl.call("ap", "workflow.start", map[string]any{"name": "approval", "parameters": map[string]any{}, "subscribe": false})
			if f.Error != nil {
				if f.Error.Code != "LIMIT_EXCEEDED" {
					t.Fatalf("node %d: %+v", i, f.Error)
				}
				break
			}
			ids = append(ids, decode[subscribeResponse](t, f.Response).ExecutionID)
			if len(ids) > quota {
				t.Fatalf("node %d took %d unfinished executions, more than the quota", i, len(ids))
			}
		}
		if len(ids) == 0 || len(ids) == quota {
			t.Fatalf("node %d took %d of a quota of %d, want its share", i, len(ids), quota)
		}
		total += len(ids)
		first = append(first, ids[0])
	}
	if total < quota || total > quota+2 {
		t.Fatalf("the cluster took %d unfinished executions, want %d to %d", total, quota, quota+2)
	}

	// One ends on A: A takes one more.
	ca := dial(t, nodes[0], adminToken)
	if f := ca.call("c", "execution.cancel", map[string]any{"execution_id": first[0]}); f.Error != nil {
		t.Fatalf("cancel: %+v", f.Error)
	}
	waitStatus(t, ca, first[0], "cancelled")
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := ca.call("again", "workflow.start", map[string]any{"name": "approval", "parameters": map[string]any{}, "subscribe": false})
		if f.Error == nil {
			break
		}
		if f.Error.Code != "LIMIT_EXCEEDED" || time.Now().After(deadline) {
			t.Fatalf("start after an end: %+v", f.Error)
		}
		time.Sleep(20 * time.Millisecond) // the end is counted once its actor stops
	}
}

// waitBalanced waits until the nodes hold all partitions, each about its
// fair share (the rebalance stops at 22, 22, 20 of 64).
func waitBalanced(t *testing.T, partitions int, nodes ...*testServer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sum, fair := 0.0, true
		var held []float64
		for _, ts := range nodes {
			n := metricValue(t, scrape(t, ts), "weft_cluster_partitions_owned")
			held = append(held, n)
			sum += n
			fair = fair && int(n) >= partitions/len(nodes)-2
		}
		if sum == float64(partitions) && fair {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions not balanced: %v held, %v", sum, held)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
