package server_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/weft-run/weft/internal/natstest"
)

// TestClusterRerunExportImport: a rerun on B of an execution that ran on A
// reuses A's completed steps and completes; C exports A's execution as A
// does; a file of executions unfinished on a single server, imported on B,
// resumes on the nodes holding their partitions and completes, and
// importing it again skips every record.
func TestClusterRerunExportImport(t *testing.T) {
	ns := natstest.Cluster(t, 3)
	a := bootNode(t, "node-a", ns[0].URL(), nil)
	b := bootNode(t, "node-b", ns[1].URL(), nil)
	c := bootNode(t, "node-c", ns[2].URL(), nil)
	waitMembers(t, 3, a, b, c)
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
