package server_test

import (
	"encoding/json"
	"testing"
)

func TestFinishedExecutionSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	c := dial(t, ts, adminToken)
	c.request("run", "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{"kept": true}})
	before := c.readUntilComplete("run")
	execID := before[1].event(t).ExecutionID
	ts.stop(t)

	ts2 := startServer(t, dir)
	c2 := dial(t, ts2, adminToken)
	f := c2.call("get", "execution.get", map[string]any{"execution_id": execID})
	snap := decode[struct {
		ExecutionID string          `json:"execution_id"`
		Status      string          `json:"status"`
		Workflow    string          `json:"workflow"`
		Parameters  json.RawMessage `json:"parameters"`
		Result      json.RawMessage `json:"result"`
		LastSeq     uint64          `json:"last_seq"`
		Steps       []struct {
			ID   string `json:"step_id"`
			Name string `json:"name"`
		} `json:"steps"`
	}](t, f.Response)
	if snap.Status != "completed" || snap.Workflow != "echo" || string(snap.Result) != `{"kept":true}` {
		t.Fatalf("snapshot after restart = %+v", snap)
	}
	if snap.LastSeq != uint64(len(before)-1) || len(snap.Steps) != 1 || snap.Steps[0].Name != "echo" {
		t.Fatalf("snapshot after restart = %+v", snap)
	}
	after := c2.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": execID})
	if len(after) != len(before) {
		t.Fatalf("replayed %d frames, want %d", len(after), len(before))
	}
	for i := 1; i < len(before); i++ {
		if string(after[i].Data) != string(before[i].Data) || after[i].Type != before[i].Type {
			t.Fatalf("event %d differs after restart:\n%s\n%s", i, before[i].Data, after[i].Data)
		}
	}
	list := c2.call("ls", "executions.list", map[string]any{})
	items := decode[struct {
		Items []struct {
			ExecutionID string `json:"execution_id"`
		} `json:"items"`
	}](t, list.Response).Items
	if len(items) != 1 || items[0].ExecutionID != execID {
		t.Fatalf("list after restart = %+v", items)
	}
}
