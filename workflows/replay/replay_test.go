package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/examples/reference"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
	"github.com/weft-run/weft/workflows/replay"
)

// loadHistories reads an export file (weft export) of recorded executions.
func loadHistories(t *testing.T, path string) []replay.History {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []replay.History
	dec := json.NewDecoder(f)
	for dec.More() {
		var rec persistence.Record
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, replay.History{Execution: rec.Execution, Steps: rec.Steps})
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no executions", path)
	}
	return out
}

func referenceRegistry() *workflows.Registry {
	reg := workflows.NewRegistry()
	reference.Register(reg)
	return reg
}

// TestReferenceHistories replays executions recorded by a real server
// (testdata/reference.jsonl, made with weft export) against the current
// reference workflows: a change that breaks running executions of them
// fails here before it ships. Regenerate the file only on purpose, when an
// incompatible change is intended (and say so in the changelog).
func TestReferenceHistories(t *testing.T) {
	reg := referenceRegistry()
	seen := map[string]bool{}
	for _, h := range loadHistories(t, "testdata/reference.jsonl") {
		res := replay.Check(context.Background(), reg, h)
		seen[h.Execution.Workflow] = true
		if !res.OK() {
			t.Errorf("%s (%s): %s", h.Execution.ID, h.Execution.Workflow, res.Divergence)
		}
		if res.Replayed == 0 {
			t.Errorf("%s (%s): no recorded step was replayed", h.Execution.ID, h.Execution.Workflow)
		}
	}
	for _, wf := range []string{"echo", "search-candidates", "countdown", "approval", "flaky", "fanout", "nap"} {
		if !seen[wf] {
			t.Errorf("testdata has no execution of %s", wf)
		}
	}
}

// historiesOf picks the recorded executions of one workflow and status.
func historiesOf(t *testing.T, workflow string, status weft.Status) []replay.History {
	var out []replay.History
	for _, h := range loadHistories(t, "testdata/reference.jsonl") {
		if h.Execution.Workflow == workflow && h.Execution.Status == status {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		t.Fatalf("testdata has no %s execution of %s", status, workflow)
	}
	return out
}

func TestChangedWorkflowIsCaught(t *testing.T) {
	var ran atomic.Int64 // a replay must never run a step
	count := func(context.Context) (int, error) { ran.Add(1); return 0, nil }

	cases := []struct {
		name     string
		workflow string
		status   weft.Status
		fn       func(workflows.Context, json.RawMessage) (any, error)
		stepID   string
		want     string // in the divergence
	}{{
		name: "renamed step", workflow: "countdown", status: weft.StatusCompleted,
		fn: func(ctx workflows.Context, _ json.RawMessage) (any, error) {
			return workflows.Task(ctx, "tock-1", count)
		},
		stepID: "1", want: `recorded "task tick-1", code "task tock-1"`,
	}, {
		name: "another kind of step", workflow: "echo", status: weft.StatusCompleted,
		fn: func(ctx workflows.Context, _ json.RawMessage) (any, error) {
			return nil, workflows.Sleep(ctx, 0)
		},
		stepID: "1", want: `recorded "task echo", code "sleep sleep"`,
	}, {
		name: "step added after the recorded end", workflow: "echo", status: weft.StatusCompleted,
		fn: func(ctx workflows.Context, p json.RawMessage) (any, error) {
			if _, err := workflows.Task(ctx, "echo", func(context.Context) (json.RawMessage, error) { return p, nil }); err != nil {
				return nil, err
			}
			return workflows.Task(ctx, "audit", count)
		},
		stepID: "2", want: "beyond the recorded ones",
	}, {
		name: "step removed", workflow: "echo", status: weft.StatusCompleted,
		fn: func(ctx workflows.Context, p json.RawMessage) (any, error) {
			return p, nil
		},
		stepID: "1", want: "without asking for 1 recorded step",
	}, {
		name: "other result", workflow: "echo", status: weft.StatusCompleted,
		fn: func(ctx workflows.Context, p json.RawMessage) (any, error) {
			_, err := workflows.Task(ctx, "echo", func(context.Context) (json.RawMessage, error) { return p, nil })
			return map[string]int{"changed": 1}, err
		},
		want: "recorded result",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := workflows.NewRegistry()
			workflows.Register(reg, tc.workflow, tc.fn)
			for _, h := range historiesOf(t, tc.workflow, tc.status) {
				res := replay.Check(context.Background(), reg, h)
				if res.OK() {
					t.Fatalf("%s: the changed workflow passed", h.Execution.ID)
				}
				d := res.Divergence
				if d.StepID != tc.stepID || !strings.Contains(d.String(), tc.want) {
					t.Errorf("divergence = %+v (%s), want step %q and %q", d, d, tc.stepID, tc.want)
				}
			}
		})
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("replay ran %d steps; it must run none", n)
	}
}

// A recording that stops short (an execution still running, waiting or
// cancelled) is not a divergence when the code goes on past it.
func TestFrontierOfUnfinishedExecution(t *testing.T) {
	reg := referenceRegistry()
	var h replay.History
	for _, c := range historiesOf(t, "countdown", weft.StatusCompleted) {
		if len(c.Steps) >= 2 {
			h = c
		}
	}
	var steps []persistence.Step
	for _, s := range h.Steps {
		if s.ID == "1" {
			steps = append(steps, s)
		}
	}
	if len(steps) != 1 || len(h.Steps) < 2 {
		t.Fatalf("want a countdown of 2+ steps, got %d", len(h.Steps))
	}
	h.Steps = steps
	for _, st := range []weft.Status{weft.StatusRunning, weft.StatusWaiting, weft.StatusCancelled} {
		h.Execution.Status = st
		if res := replay.Check(context.Background(), reg, h); !res.OK() || res.Frontier != "2" || res.Replayed != 1 {
			t.Errorf("%s: result %+v, want ok with frontier 2", st, res)
		}
	}
	h.Execution.Status = weft.StatusCompleted
	if res := replay.Check(context.Background(), reg, h); res.OK() {
		t.Errorf("completed with steps missing: passed, want a divergence")
	}
}

func TestUnknownWorkflow(t *testing.T) {
	h := replay.History{Execution: persistence.Execution{ID: "exec_x", Workflow: "gone", Status: weft.StatusCompleted}}
	res := replay.Check(context.Background(), workflows.NewRegistry(), h)
	if res.OK() || !strings.Contains(res.Divergence.Reason, "not registered") {
		t.Errorf("result %+v", res)
	}
}

func ExampleCheck() {
	reg := workflows.NewRegistry()
	reference.Register(reg)
	f, _ := os.Open("testdata/reference.jsonl")
	defer f.Close()
	dec := json.NewDecoder(f)
	var rec persistence.Record
	_ = dec.Decode(&rec)
	res := replay.Check(context.Background(), reg, replay.History{Execution: rec.Execution, Steps: rec.Steps})
	fmt.Println(res.OK())
	// Output: true
}
