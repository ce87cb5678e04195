package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// closedStep is what the tests read of a step error event.
type closedStep struct {
	StepID  string `json:"step_id"`
	Name    string `json:"name"`
	Tool    string `json:"tool"`
	Attempt int    `json:"attempt"`
	Error   *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
	WillRetry *bool `json:"will_retry"`
}

// blockUntilDone is a step body that runs until its context ends.
func blockUntilDone(ctx context.Context) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// registerHanging registers workflows whose steps run until cancelled:
// "hang" (a task in a Go branch, then a child running a task, then a tool
// in the workflow's goroutine), "hang-child", "backoff" (a task that
// fails and retries in an hour) and "hang-timeout" (hang with a 300 ms
// execution timeout).
func registerHanging(reg *workflows.Registry) {
	hang := func(ctx workflows.Context, _ struct{}) (int, error) {
		workflows.Go(ctx, func(ctx workflows.Context) (int, error) {
			return workflows.Task(ctx, "branch-task", blockUntilDone)
		})
		workflows.Go(ctx, func(ctx workflows.Context) (int, error) {
			return workflows.Child[int](ctx, "hang-child", struct{}{})
		})
		tool := workflows.NewTool("stuck-tool", "Never answers.", func(ctx context.Context, _ struct{}) (int, error) {
			return blockUntilDone(ctx)
		})
		_, err := tool.Call(ctx, struct{}{})
		return 0, err
	}
	workflows.Register(reg, "hang", hang)
	workflows.Register(reg, "hang-timeout", hang, workflows.ExecutionTimeout(300*time.Millisecond))
	workflows.Register(reg, "hang-child", func(ctx workflows.Context, _ struct{}) (int, error) {
		return workflows.Task(ctx, "inner", blockUntilDone)
	})
	workflows.Register(reg, "backoff", func(ctx workflows.Context, _ struct{}) (int, error) {
		return workflows.Task(ctx, "later", func(context.Context) (int, error) {
			return 0, errors.New("not yet")
		}, workflows.WithRetry(workflows.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Hour}))
	})
}

// startAndWaitFor starts a workflow and reads its stream until it has
// seen as many events of each type as want says; it returns the execution
// id.
func startAndWaitFor(t *testing.T, c *client, name string, want map[string]int) string {
	t.Helper()
	c.request("run", "workflow.start", map[string]any{"name": name, "parameters": map[string]any{}})
	var id string
	seen := map[string]int{}
	for done := false; !done; {
		f := c.read()
		if f.ID != "run" {
			continue
		}
		if f.Complete || f.Error != nil {
			t.Fatalf("%s ended early: %+v", name, f)
		}
		if f.Response != nil {
			id = decode[execSnapshot](t, f.Response).ExecutionID
		}
		seen[f.Type]++
		done = true
		for typ, n := range want {
			done = done && seen[typ] >= n
		}
	}
	return id
}

// stepErrors decodes the step error events of frames, in order, as
// "type step_id" and details.
func stepErrors(t *testing.T, frames []frame) ([]string, []closedStep) {
	t.Helper()
	var names []string
	var got []closedStep
	for _, f := range frames {
		switch f.Type {
		case "task_error", "llm_error", "tool_error", "workflow_error":
			d := decode[closedStep](t, f.event(t).Details)
			names = append(names, f.Type+" "+d.StepID)
			got = append(got, d)
		}
	}
	return names, got
}

// A cancel closes every step still running (a branch's task, a child and
// its task, a tool) with its error event, code CANCELLED and no retry,
// innermost first, before execution_cancelled; the snapshot carries the
// reason.
func TestCancelClosesRunningSteps(t *testing.T) {
	ts := startServer(t, "", registerHanging)
	c := dial(t, ts, adminToken)
	// Step ids: branch 1 runs task 1.1, branch 2 runs child 2.1 and its
	// task 2.1.1, the tool is step 3.
	id := startAndWaitFor(t, c, "hang", map[string]int{"task_start": 2, "tool_start": 1})
	if f := c.call("cancel", "execution.cancel", map[string]any{"execution_id": id, "reason": "changed my mind"}); f.Error != nil {
		t.Fatalf("cancel: %+v", f.Error)
	}
	rest := c.readUntilComplete("run")
	if last := rest[len(rest)-1]; last.Type != "execution_cancelled" {
		t.Fatalf("stream ended with %s", eventTypes(rest))
	}
	names, got := stepErrors(t, rest)
	if got, want := strings.Join(names, ","), "tool_error 3,task_error 2.1.1,workflow_error 2.1,task_error 1.1"; got != want {
		t.Fatalf("step errors = %s, want %s", got, want)
	}
	for _, d := range got {
		if d.Error == nil || d.Error.Code != "CANCELLED" || d.Error.Message != "cancelled: changed my mind" {
			t.Fatalf("step %s closed with %+v", d.StepID, d.Error)
		}
		if d.StepID != "2.1" && (d.WillRetry == nil || *d.WillRetry) {
			t.Fatalf("step %s: will_retry %v, want false", d.StepID, d.WillRetry)
		}
	}
	if tool, task := got[0], got[3]; tool.Tool != "stuck-tool" || task.Name != "branch-task" || task.Attempt != 1 {
		t.Fatalf("closed tool %+v, branch task %+v", tool, task)
	}
	snap := getExecution(t, c, id)
	if snap.Status != "cancelled" || snap.Error == nil || snap.Error.Code != "CANCELLED" || snap.Error.Message != "changed my mind" {
		t.Fatalf("snapshot after cancel = %+v", snap)
	}
}

// The default reason names who cancelled; the step's message does not say
// "cancelled" twice.
func TestCancelWithoutReason(t *testing.T) {
	ts := startServer(t, "", registerHanging)
	c := dial(t, ts, adminToken)
	id := startAndWaitFor(t, c, "hang-child", map[string]int{"task_start": 1})
	c.call("cancel", "execution.cancel", map[string]any{"execution_id": id})
	_, got := stepErrors(t, c.readUntilComplete("run"))
	if len(got) != 1 || got[0].Error.Message != "cancelled by alice" {
		t.Fatalf("closed steps = %+v", got)
	}
	if snap := getExecution(t, c, id); snap.Error == nil || snap.Error.Message != "cancelled by alice" {
		t.Fatalf("snapshot = %+v", snap)
	}
}

// A step waiting to retry is closed too: by the actor that saw it fail,
// by a new one after passivation, and after a restart (neither of which
// saw it start).
func TestCancelClosesStepWaitingToRetry(t *testing.T) {
	cases := []struct {
		name       string
		adjust     func(*server.Config)
		passivated bool
		restart    bool
	}{
		{"warm", nil, false, false},
		{"passivated", passivateSoon, true, false},
		{"after a restart", nil, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ts := bootServer(t, dir, tc.adjust, registerHanging)
			c := dial(t, ts, adminToken)
			id := startAndWaitFor(t, c, "backoff", map[string]int{"task_error": 1})
			waitStatus(t, c, id, "waiting")
			if tc.passivated {
				waitGauge(t, ts, "weft_executions_passivated", 1)
			}
			if tc.restart {
				ts.stop(t)
				ts = bootServer(t, dir, nil, registerHanging)
				c = dial(t, ts, adminToken)
			}
			c.call("cancel", "execution.cancel", map[string]any{"execution_id": id, "reason": "too slow"})
			frames := c.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": id})
			checkSeqs(t, frames, 1)
			names, got := stepErrors(t, frames)
			if strings.Join(names, ",") != "task_error 1,task_error 1" {
				t.Fatalf("step errors = %v (events %s)", names, eventTypes(frames))
			}
			last := got[1]
			if last.Attempt != 1 || last.Name != "later" || *last.WillRetry || last.Error.Code != "CANCELLED" || last.Error.Message != "cancelled: too slow" {
				t.Fatalf("closing task_error = %+v %+v", last, last.Error)
			}
			if frames[len(frames)-1].Type != "execution_cancelled" {
				t.Fatalf("events = %s", eventTypes(frames))
			}
		})
	}
}

// An execution past its timeout closes its running steps with TIMEOUT, then
// fails.
func TestTimeoutClosesRunningSteps(t *testing.T) {
	ts := startServer(t, "", registerHanging)
	c := dial(t, ts, adminToken)
	frames := startAndCollect(t, c, "run", "hang-timeout", map[string]any{})
	if last := frames[len(frames)-1]; last.Type != "execution_failed" {
		t.Fatalf("stream ended with %s", eventTypes(frames))
	}
	names, got := stepErrors(t, frames)
	// The steps that had started by the timeout are closed, then the
	// workflow itself fails.
	if len(names) < 2 || names[len(names)-1] != "workflow_error " {
		t.Fatalf("step errors = %v", names)
	}
	for _, d := range got {
		if d.Error == nil || d.Error.Code != "TIMEOUT" {
			t.Fatalf("%s closed with %+v", d.StepID, d.Error)
		}
	}
}
