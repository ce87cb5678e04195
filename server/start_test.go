package server_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestStartEchoStreamsEveryEventInOrder(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	c.request("r1", "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{"hello": "world", "n": 42}})
	frames := c.readUntilComplete("r1")

	first := frames[0]
	if first.Response == nil || first.Complete {
		t.Fatalf("first frame = %+v, want a response with complete:false", first)
	}
	start := decode[struct {
		ExecutionID string `json:"execution_id"`
		Status      string `json:"status"`
	}](t, first.Response)
	if start.ExecutionID == "" || start.Status != "running" {
		t.Fatalf("start response = %+v", start)
	}
	got := eventTypes(frames)
	want := "execution_started,workflow_start,task_start,task_end,workflow_end,execution_completed"
	if got != want {
		t.Fatalf("events = %s\nwant     %s", got, want)
	}
	checkSeqs(t, frames, 1)
	last := frames[len(frames)-1]
	if !last.Complete {
		t.Fatal("terminal event lacks complete:true")
	}
	for _, f := range frames[1 : len(frames)-1] {
		if f.Complete {
			t.Fatalf("%s carries complete:true before the end", f.Type)
		}
	}
	end := decode[struct {
		Result     map[string]any `json:"result"`
		DurationMS *int64         `json:"duration_ms"`
	}](t, last.event(t).Details)
	if end.Result["hello"] != "world" || end.Result["n"] != float64(42) || end.DurationMS == nil {
		t.Fatalf("execution_completed details = %s", last.event(t).Details)
	}
	if ev := last.event(t); ev.ExecutionID != start.ExecutionID || ev.Workflow != "echo" || ev.Timestamp.IsZero() {
		t.Fatalf("event data = %+v", ev)
	}
}

func TestTenExecutionsMultiplexedOnOneSocket(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	const n = 10
	for i := range n {
		c.request(fmt.Sprintf("r%d", i), "workflow.start", map[string]any{
			"name": "countdown", "parameters": map[string]any{"steps": 3, "delay_ms": 5},
		})
	}
	byID := map[string][]frame{}
	done := 0
	for done < n {
		f := c.read()
		byID[f.ID] = append(byID[f.ID], f)
		if f.Error != nil {
			t.Fatalf("request %s failed: %+v", f.ID, f.Error)
		}
		if f.Complete {
			done++
		}
	}
	execs := map[string]bool{}
	for i := range n {
		frames := byID[fmt.Sprintf("r%d", i)]
		if got := len(frames); got != 1+2+3*2+2 { // response, started+workflow_start, 3 tasks, ends
			t.Fatalf("r%d got %d frames: %s", i, got, eventTypes(frames))
		}
		checkSeqs(t, frames, 1)
		id := frames[1].event(t).ExecutionID
		for _, f := range frames[1:] {
			if f.event(t).ExecutionID != id {
				t.Fatalf("r%d mixes executions", i)
			}
		}
		execs[id] = true
	}
	if len(execs) != n {
		t.Fatalf("%d distinct executions, want %d", len(execs), n)
	}
}

func TestSearchCandidatesStreamsLLMDeltas(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	c.request("s", "workflow.start", map[string]any{"name": "search-candidates", "parameters": map[string]any{
		"user_query": "senior go engineer with distributed systems", "organization_id": "org_1",
		"filters": map[string]string{"location": "London"},
	}})
	frames := c.readUntilComplete("s")
	checkSeqs(t, frames, 1)
	// search-candidates is an agent: the model streams, calls the rank
	// tool, then streams its summary of the ranking.
	type llmDetails struct {
		StepID string `json:"step_id"`
		Text   string `json:"text"`
		Output string `json:"output"`
	}
	deltas := map[string]string{} // by step id
	var kinds, llmSteps []string
	for _, f := range frames {
		switch f.Type {
		case "llm_delta":
			d := decode[llmDetails](t, f.event(t).Details)
			deltas[d.StepID] += d.Text
		case "llm_end":
			d := decode[llmDetails](t, f.event(t).Details)
			if d.Output == "" || d.Output != deltas[d.StepID] {
				t.Fatalf("llm step %s: output %q != its streamed deltas %q", d.StepID, d.Output, deltas[d.StepID])
			}
			llmSteps = append(llmSteps, d.StepID)
			kinds = append(kinds, f.Type)
		case "task_start", "llm_start", "tool_start", "task_end", "tool_end":
			kinds = append(kinds, f.Type)
		}
	}
	if got, want := strings.Join(kinds, ","), "task_start,task_end,llm_start,llm_end,tool_start,tool_end,llm_start,llm_end"; got != want {
		t.Fatalf("steps = %s, want %s", got, want)
	}
	last := frames[len(frames)-1]
	if last.Type != "execution_completed" {
		t.Fatalf("ended with %s: %s", last.Type, last.Data)
	}
	res := decode[struct {
		Result struct {
			Summary    string `json:"summary"`
			Candidates []struct {
				ID    string `json:"id"`
				Score int    `json:"score"`
			} `json:"candidates"`
		} `json:"result"`
	}](t, last.event(t).Details).Result
	if final := deltas[llmSteps[len(llmSteps)-1]]; res.Summary != final {
		t.Fatalf("summary %q != the final answer's streamed deltas %q", res.Summary, final)
	}
	if len(res.Candidates) != 2 || res.Candidates[0].ID != "c1" || res.Candidates[0].Score < res.Candidates[1].Score {
		t.Fatalf("candidates = %+v, want the two London ones, c1 first", res.Candidates)
	}
}
