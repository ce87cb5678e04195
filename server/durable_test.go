package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-run/weft/workflows"
)

// startAndCollect starts a workflow on the socket and returns every frame of
// its stream, the response first.
func startAndCollect(t *testing.T, c *client, id, name string, params any) []frame {
	t.Helper()
	c.request(id, "workflow.start", map[string]any{"name": name, "parameters": params})
	return c.readUntilComplete(id)
}

// details decodes the details of the first event of a type.
func details[T any](t *testing.T, frames []frame, typ string) T {
	t.Helper()
	for _, f := range frames {
		if f.Type == typ {
			return decode[T](t, f.event(t).Details)
		}
	}
	t.Fatalf("no %s event in %s", typ, eventTypes(frames))
	panic("unreachable")
}

func count(frames []frame, typ string) int {
	n := 0
	for _, f := range frames {
		if f.Type == typ {
			n++
		}
	}
	return n
}

type execSnapshot struct {
	ExecutionID string          `json:"execution_id"`
	Status      string          `json:"status"`
	Result      json.RawMessage `json:"result"`
	Error       *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
	LastSeq uint64 `json:"last_seq"`
}

func getExecution(t testing.TB, c *client, id string) execSnapshot {
	t.Helper()
	f := c.call("get-"+id, "execution.get", map[string]any{"execution_id": id})
	if f.Error != nil {
		t.Fatalf("execution.get: %+v", f.Error)
	}
	return decode[execSnapshot](t, f.Response)
}

// waitStatus polls execution.get until the status is want.
func waitStatus(t testing.TB, c *client, id, want string) execSnapshot {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap := getExecution(t, c, id)
		if snap.Status == want {
			return snap
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s stays %s, want %s", id, snap.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCancelRunningExecution(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	id := startCountdown(t, c, "start", 100, 50)
	c.request("sub", "execution.subscribe", map[string]any{"execution_id": id})
	for seen := 0; seen < 4; { // wait for a couple of task events
		if f := c.read(); f.ID == "sub" && f.Type != "" {
			seen++
		}
	}
	f := c.call("cancel", "execution.cancel", map[string]any{"execution_id": id, "reason": "changed my mind"})
	if got := decode[map[string]string](t, f.Response)["status"]; got != "cancelling" || f.Error != nil {
		t.Fatalf("cancel answer = %s %+v", f.Response, f.Error)
	}
	rest := c.readUntilComplete("sub")
	last := rest[len(rest)-1]
	if last.Type != "execution_cancelled" || !last.Complete {
		t.Fatalf("stream ended with %s", eventTypes(rest))
	}
	d := decode[struct {
		Reason     string `json:"reason"`
		DurationMS *int64 `json:"duration_ms"`
	}](t, last.event(t).Details)
	if d.Reason != "changed my mind" || d.DurationMS == nil {
		t.Fatalf("cancelled details = %s", last.event(t).Details)
	}
	if snap := getExecution(t, c, id); snap.Status != "cancelled" {
		t.Fatalf("status after cancel = %s", snap.Status)
	}
	// Cancelling an ended execution is a no-op answer, not an error.
	f = c.call("again", "execution.cancel", map[string]any{"execution_id": id})
	if f.Error != nil || decode[map[string]string](t, f.Response)["status"] != "cancelled" {
		t.Fatalf("second cancel = %s %+v", f.Response, f.Error)
	}
}

func TestCancelWaitingExecution(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	f := c.call("s", "workflow.start", map[string]any{"name": "approval", "parameters": map[string]any{}, "subscribe": false})
	id := decode[execSnapshot](t, f.Response).ExecutionID
	waitStatus(t, c, id, "waiting")
	c.call("c", "execution.cancel", map[string]any{"execution_id": id})
	waitStatus(t, c, id, "cancelled")
}

func TestSignalResumesWaitingWorkflow(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	f := c.call("s", "workflow.start", map[string]any{"name": "approval", "parameters": map[string]any{}, "subscribe": false})
	id := decode[execSnapshot](t, f.Response).ExecutionID
	waitStatus(t, c, id, "waiting")

	f = c.call("sig", "execution.signal", map[string]any{"execution_id": id, "name": "approve", "payload": map[string]any{"by": "ann"}})
	if f.Error != nil || !decode[map[string]any](t, f.Response)["delivered"].(bool) {
		t.Fatalf("signal answer = %s %+v", f.Response, f.Error)
	}
	frames := c.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": id})
	checkSeqs(t, frames, 1)
	if count(frames, "signal_waiting") != 1 || count(frames, "signal_received") != 1 {
		t.Fatalf("events = %s", eventTypes(frames))
	}
	got := details[struct {
		Name    string          `json:"name"`
		Payload json.RawMessage `json:"payload"`
	}](t, frames, "signal_received")
	if got.Name != "approve" || string(got.Payload) != `{"by":"ann"}` {
		t.Fatalf("signal_received = %+v", got)
	}
	if snap := getExecution(t, c, id); snap.Status != "completed" || string(snap.Result) != `{"by":"ann"}` {
		t.Fatalf("after signal: %+v", snap)
	}
	// An ended execution takes no more signals.
	f = c.call("late", "execution.signal", map[string]any{"execution_id": id, "name": "approve"})
	if f.Error != nil || decode[map[string]any](t, f.Response)["delivered"] != false {
		t.Fatalf("late signal = %s %+v", f.Response, f.Error)
	}
}

func TestSignalSentBeforeTheWaitIsKept(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	f := c.call("s", "workflow.start", map[string]any{"name": "approval", "parameters": map[string]any{"delay_ms": 300}, "subscribe": false})
	id := decode[execSnapshot](t, f.Response).ExecutionID
	c.call("sig", "execution.signal", map[string]any{"execution_id": id, "name": "approve", "payload": "early"})
	snap := waitStatus(t, c, id, "completed")
	if string(snap.Result) != `"early"` {
		t.Fatalf("result = %s", snap.Result)
	}
}

func TestSignalTimeout(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	frames := startAndCollect(t, c, "s", "approval", map[string]any{"timeout_ms": 100})
	snap := getExecution(t, c, frames[1].event(t).ExecutionID)
	if snap.Status != "failed" || snap.Error == nil || snap.Error.Code != workflows.ErrSignalTimeout {
		t.Fatalf("after timeout: %+v", snap)
	}
}

func TestFlakyRetriesThenSucceeds(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	frames := startAndCollect(t, c, "s", "flaky", map[string]any{"fail_times": 2})
	type taskDetails struct {
		Attempt   int    `json:"attempt"`
		WillRetry *bool  `json:"will_retry"`
		RetryInMS *int64 `json:"retry_in_ms"`
	}
	var attempts []int
	for _, f := range frames {
		switch f.Type {
		case "task_error":
			d := decode[taskDetails](t, f.event(t).Details)
			if d.WillRetry == nil || !*d.WillRetry || d.RetryInMS == nil || *d.RetryInMS <= 0 {
				t.Fatalf("task_error = %s", f.event(t).Details)
			}
		case "task_start":
			attempts = append(attempts, decode[taskDetails](t, f.event(t).Details).Attempt)
		}
	}
	if fmt.Sprint(attempts) != "[1 2 3]" || count(frames, "task_error") != 2 || count(frames, "task_end") != 1 {
		t.Fatalf("attempts %v, events %s", attempts, eventTypes(frames))
	}
	if last := frames[len(frames)-1]; last.Type != "execution_completed" {
		t.Fatalf("ended with %s", last.Type)
	}
	// One more failure than the policy allows fails the execution.
	frames = startAndCollect(t, c, "s2", "flaky", map[string]any{"fail_times": 11})
	if last := frames[len(frames)-1]; last.Type != "execution_failed" {
		t.Fatalf("fail_times 11 ended with %s", last.Type)
	}
}

func TestFanoutRunsBranchesInParallel(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	frames := startAndCollect(t, c, "s", "fanout", map[string]any{"n": 5})
	checkSeqs(t, frames, 1)
	res := details[struct {
		Result struct {
			Sum   int   `json:"sum"`
			Parts []int `json:"parts"`
		} `json:"result"`
	}](t, frames, "execution_completed").Result
	if res.Sum != 30 || fmt.Sprint(res.Parts) != "[0 1 4 9 16]" {
		t.Fatalf("result = %+v", res)
	}
	ids := map[string]bool{}
	for _, f := range frames {
		if f.Type == "task_end" {
			ids[decode[struct {
				StepID string `json:"step_id"`
			}](t, f.event(t).Details).StepID] = true
		}
	}
	for _, want := range []string{"1.1", "2.1", "3.1", "4.1", "5.1", "6"} {
		if !ids[want] {
			t.Fatalf("step ids %v lack %s", ids, want)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	start := func(id string, params any) frame {
		return c.call(id, "workflow.start", map[string]any{"name": "echo", "parameters": params, "idempotency_key": "order-7", "subscribe": false})
	}
	a := start("a", map[string]any{"x": 1, "y": 2})
	b := start("b", map[string]any{"y": 2, "x": 1}) // same value, other spelling
	if a.Error != nil || b.Error != nil {
		t.Fatalf("starts: %+v %+v", a.Error, b.Error)
	}
	if ida, idb := decode[execSnapshot](t, a.Response).ExecutionID, decode[execSnapshot](t, b.Response).ExecutionID; ida != idb {
		t.Fatalf("same key gave two executions %s %s", ida, idb)
	}
	if f := start("c", map[string]any{"x": 2}); f.Error == nil || f.Error.Code != "CONFLICT" {
		t.Fatalf("other parameters: %+v", f)
	}
	list := c.call("l", "executions.list", map[string]any{})
	if n := len(decode[struct {
		Items []json.RawMessage `json:"items"`
	}](t, list.Response).Items); n != 1 {
		t.Fatalf("%d executions stored, want 1", n)
	}
}

func TestSleepSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	c := dial(t, ts, adminToken)
	f := c.call("s", "workflow.start", map[string]any{"name": "nap", "parameters": map[string]any{"seconds": 2}, "subscribe": false})
	id := decode[execSnapshot](t, f.Response).ExecutionID
	waitStatus(t, c, id, "waiting") // suspended: a timer, no goroutine
	ts.stop(t)

	ts2 := startServer(t, dir)
	c2 := dial(t, ts2, adminToken)
	frames := c2.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": id})
	checkSeqs(t, frames, 1)
	first, last := frames[1].event(t), frames[len(frames)-1].event(t)
	if frames[len(frames)-1].Type != "execution_completed" {
		t.Fatalf("nap ended with %s", eventTypes(frames))
	}
	if slept := last.Timestamp.Sub(first.Timestamp); slept < 2*time.Second || slept > 6*time.Second {
		t.Fatalf("nap took %s, want about 2s", slept)
	}
	if count(frames, "workflow_start") != 1 {
		t.Fatalf("workflow_start emitted %d times", count(frames, "workflow_start"))
	}
}

func TestRetryWaitSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	var calls atomic.Int32
	register := func(reg *workflows.Registry) {
		workflows.Register(reg, "slow-retry", func(ctx workflows.Context, _ struct{}) (int, error) {
			return workflows.Task(ctx, "flap", func(ctx context.Context) (int, error) {
				if calls.Add(1) == 1 {
					return 0, errors.New("first call fails")
				}
				return workflows.Attempt(ctx), nil
			}, workflows.WithRetry(workflows.RetryPolicy{MaxAttempts: 3, InitialInterval: 2 * time.Second}))
		})
	}
	ts := startServer(t, dir, register)
	c := dial(t, ts, adminToken)
	f := c.call("s", "workflow.start", map[string]any{"name": "slow-retry", "subscribe": false})
	id := decode[execSnapshot](t, f.Response).ExecutionID
	waitStatus(t, c, id, "waiting")
	failedAt := time.Now()
	ts.stop(t)

	ts2 := startServer(t, dir, register)
	c2 := dial(t, ts2, adminToken)
	snap := waitStatus(t, c2, id, "completed")
	if string(snap.Result) != "2" {
		t.Fatalf("result = %s, want attempt 2", snap.Result)
	}
	if waited := time.Since(failedAt); waited < 1500*time.Millisecond {
		t.Fatalf("second attempt after %s: the recorded backoff was not honoured", waited)
	}
	if calls.Load() != 2 {
		t.Fatalf("step ran %d times, want 2", calls.Load())
	}
}

func TestNondeterminismAfterCodeChange(t *testing.T) {
	dir := t.TempDir()
	version := func(step string) func(*workflows.Registry) {
		return func(reg *workflows.Registry) {
			workflows.Register(reg, "evolving", func(ctx workflows.Context, _ struct{}) (string, error) {
				if _, err := workflows.Task(ctx, step, func(context.Context) (int, error) { return 1, nil }); err != nil {
					return "", err
				}
				return workflows.WaitSignal[string](ctx, "go", 0)
			})
		}
	}
	ts := startServer(t, dir, version("charge-card"))
	c := dial(t, ts, adminToken)
	f := c.call("s", "workflow.start", map[string]any{"name": "evolving", "subscribe": false})
	id := decode[execSnapshot](t, f.Response).ExecutionID
	waitStatus(t, c, id, "waiting")
	ts.stop(t)

	ts2 := startServer(t, dir, version("charge-wallet"))
	c2 := dial(t, ts2, adminToken)
	snap := waitStatus(t, c2, id, "failed")
	if snap.Error == nil || snap.Error.Code != "NONDETERMINISM" ||
		!strings.Contains(snap.Error.Message, "charge-card") || !strings.Contains(snap.Error.Message, "charge-wallet") {
		t.Fatalf("error = %+v, want a non-determinism error naming both steps", snap.Error)
	}
}

func TestPanickingWorkflowIsRestartedThenFailed(t *testing.T) {
	var runs, flakyRuns atomic.Int32
	ts := startServer(t, "", func(reg *workflows.Registry) {
		workflows.Register(reg, "always-panics", func(ctx workflows.Context, _ struct{}) (int, error) {
			runs.Add(1)
			panic("bad workflow code")
		})
		workflows.Register(reg, "panics-once", func(ctx workflows.Context, _ struct{}) (int, error) {
			v, err := workflows.Task(ctx, "before", func(context.Context) (int, error) { return 7, nil })
			if flakyRuns.Add(1) == 1 {
				panic("first run only")
			}
			return v, err
		})
	})
	c := dial(t, ts, adminToken)
	frames := startAndCollect(t, c, "a", "always-panics", nil)
	last := frames[len(frames)-1]
	if last.Type != "execution_failed" || !strings.Contains(string(last.Data), "bad workflow code") {
		t.Fatalf("always-panics ended with %s: %s", last.Type, last.Data)
	}
	if got := runs.Load(); got != 4 {
		t.Fatalf("ran %d times, want 1 + 3 restarts", got)
	}
	frames = startAndCollect(t, c, "b", "panics-once", nil)
	if last := frames[len(frames)-1]; last.Type != "execution_completed" || count(frames, "task_end") != 1 {
		t.Fatalf("panics-once: %s", eventTypes(frames))
	}
	checkSeqs(t, frames, 1)
	// The connection and other executions are unaffected.
	if f := c.call("p", "ping", nil); f.Error != nil {
		t.Fatal(f.Error)
	}
}

func TestExecutionTimeout(t *testing.T) {
	ts := startServer(t, "", func(reg *workflows.Registry) {
		workflows.Register(reg, "too-slow", func(ctx workflows.Context, _ struct{}) (int, error) {
			return workflows.Task(ctx, "forever", func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, ctx.Err()
			})
		}, workflows.ExecutionTimeout(200*time.Millisecond))
	})
	c := dial(t, ts, adminToken)
	frames := startAndCollect(t, c, "a", "too-slow", nil)
	last := frames[len(frames)-1]
	if last.Type != "execution_failed" || !strings.Contains(string(last.Data), "TIMEOUT") {
		t.Fatalf("ended with %s: %s", last.Type, last.Data)
	}
}

func TestChildWorkflowEventsNestInParentStream(t *testing.T) {
	ts := startServer(t, "", func(reg *workflows.Registry) {
		workflows.Register(reg, "parent", func(ctx workflows.Context, _ struct{}) (json.RawMessage, error) {
			return workflows.Child[json.RawMessage](ctx, "echo", map[string]int{"from": 1})
		})
	})
	c := dial(t, ts, adminToken)
	frames := startAndCollect(t, c, "p", "parent", nil)
	checkSeqs(t, frames, 1)
	want := "execution_started,workflow_start,workflow_start,task_start,task_end,workflow_end,workflow_end,execution_completed"
	if got := eventTypes(frames); got != want {
		t.Fatalf("events = %s\nwant     %s", got, want)
	}
	child := decode[struct {
		Name   string `json:"name"`
		StepID string `json:"step_id"`
	}](t, frames[3].event(t).Details)
	task := decode[struct {
		StepID string `json:"step_id"`
	}](t, frames[4].event(t).Details)
	if child.Name != "echo" || child.StepID != "1" || task.StepID != "1.1" {
		t.Fatalf("child %+v, task %+v", child, task)
	}
	res := details[struct {
		Result json.RawMessage `json:"result"`
	}](t, frames, "execution_completed")
	if string(res.Result) != `{"from":1}` {
		t.Fatalf("result = %s", res.Result)
	}
}
