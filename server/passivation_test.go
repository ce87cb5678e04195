package server_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/weft-run/weft/server"
)

// gauge reads one unlabelled gauge from /metrics.
func gauge(t testing.TB, ts *testServer, name string) float64 {
	t.Helper()
	r := httpDo(t, ts, "GET", "/metrics", "", nil, "Accept", "text/plain; version=0.0.4")
	r.expectStatus(t, http.StatusOK)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	fam, ok := fams[name]
	if !ok || len(fam.GetMetric()) == 0 {
		return 0
	}
	return fam.GetMetric()[0].GetGauge().GetValue()
}

// waitGauge polls a gauge until it is want.
func waitGauge(t testing.TB, ts *testServer, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := gauge(t, ts, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// passivateSoon passivates a waiting execution 50 ms after it suspends.
func passivateSoon(cfg *server.Config) { cfg.PassivateAfter = 50 * time.Millisecond }

func startNoSub(t testing.TB, c *client, name string, params map[string]any) string {
	t.Helper()
	f := c.call("start-"+name, "workflow.start", map[string]any{"name": name, "parameters": params, "subscribe": false})
	if f.Error != nil {
		t.Fatalf("start %s: %+v", name, f.Error)
	}
	return decode[execSnapshot](t, f.Response).ExecutionID
}

// A sleeping execution loses its actor (passivated: only a wake-heap entry
// stays), wakes on time from the heap and completes, each step once.
func TestSleepingExecutionIsPassivatedAndWakesOnTime(t *testing.T) {
	ts := bootServer(t, "", passivateSoon)
	c := dial(t, ts, adminToken)
	id := startNoSub(t, c, "nap", map[string]any{"seconds": 2})
	waitStatus(t, c, id, "waiting")
	waitGauge(t, ts, "weft_executions_passivated", 1)
	waitGauge(t, ts, "weft_execution_actors", 0)

	frames := c.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": id})
	checkSeqs(t, frames, 1)
	if last := frames[len(frames)-1]; last.Type != "execution_completed" {
		t.Fatalf("nap ended with %s", eventTypes(frames))
	}
	first, last := frames[1].event(t), frames[len(frames)-1].event(t)
	if slept := last.Timestamp.Sub(first.Timestamp); slept < 2*time.Second || slept > 4*time.Second {
		t.Fatalf("nap took %s, want about 2s", slept)
	}
	if count(frames, "workflow_start") != 1 || count(frames, "workflow_end") != 1 {
		t.Fatalf("events = %s", eventTypes(frames))
	}
	snap := decode[struct {
		Steps []struct {
			ID    string `json:"step_id"`
			Kind  string `json:"kind"`
			State string `json:"state"`
		} `json:"steps"`
	}](t, c.call("get", "execution.get", map[string]any{"execution_id": id}).Response)
	if len(snap.Steps) != 1 || snap.Steps[0].Kind != "sleep" || snap.Steps[0].State != "" {
		t.Fatalf("steps = %+v, want one completed sleep", snap.Steps)
	}
	waitGauge(t, ts, "weft_executions_passivated", 0)
	waitGauge(t, ts, "weft_execution_actors", 0)
}

// WarmExecutions bounds the suspended executions that keep their actor:
// the least recently suspended are passivated first.
func TestWarmLimitPassivatesTheOldest(t *testing.T) {
	ts := bootServer(t, "", func(cfg *server.Config) { cfg.WarmExecutions = 1; cfg.PassivateAfter = time.Hour })
	c := dial(t, ts, adminToken)
	var ids []string
	for range 3 {
		id := startNoSub(t, c, "approval", map[string]any{})
		waitStatus(t, c, id, "waiting")
		ids = append(ids, id)
	}
	waitGauge(t, ts, "weft_executions_passivated", 2)
	waitGauge(t, ts, "weft_execution_actors", 1)
	for _, id := range ids {
		f := c.call("sig-"+id, "execution.signal", map[string]any{"execution_id": id, "name": "approve", "payload": id})
		if f.Error != nil {
			t.Fatalf("signal: %+v", f.Error)
		}
		if snap := waitStatus(t, c, id, "completed"); string(snap.Result) != `"`+id+`"` {
			t.Fatalf("result = %s", snap.Result)
		}
	}
	waitGauge(t, ts, "weft_executions_passivated", 0)
}

// A passivated signal wait is read from the store (get, subscribe), wakes
// when signalled and completes; a passivated execution can be cancelled.
func TestPassivatedSignalWaitResumesAndCancels(t *testing.T) {
	ts := bootServer(t, "", passivateSoon)
	c := dial(t, ts, adminToken)
	id := startNoSub(t, c, "approval", map[string]any{})
	other := startNoSub(t, c, "approval", map[string]any{})
	waitStatus(t, c, id, "waiting")
	waitStatus(t, c, other, "waiting")
	waitGauge(t, ts, "weft_executions_passivated", 2)
	waitGauge(t, ts, "weft_execution_actors", 0)

	// Subscribe while passivated: the history so far comes from the store,
	// the rest live once the signal wakes it.
	c.request("sub", "execution.subscribe", map[string]any{"execution_id": id})
	for {
		f := c.read()
		if f.ID == "sub" && f.Type == "signal_waiting" {
			break
		}
		if f.ID == "sub" && (f.Complete || f.Error != nil) {
			t.Fatalf("subscription ended early: %+v", f)
		}
	}
	if snap := getExecution(t, c, id); snap.Status != "waiting" {
		t.Fatalf("status of a passivated approval = %s", snap.Status)
	}
	f := c.call("sig", "execution.signal", map[string]any{"execution_id": id, "name": "approve", "payload": map[string]any{"by": "ann"}})
	if f.Error != nil || decode[map[string]any](t, f.Response)["delivered"] != true {
		t.Fatalf("signal answer = %s %+v", f.Response, f.Error)
	}
	rest := c.readUntilComplete("sub")
	if last := rest[len(rest)-1]; last.Type != "execution_completed" || count(rest, "signal_received") != 1 {
		t.Fatalf("after the signal: %s", eventTypes(rest))
	}
	if snap := getExecution(t, c, id); snap.Status != "completed" || string(snap.Result) != `{"by":"ann"}` {
		t.Fatalf("after signal: %+v", snap)
	}

	f = c.call("cancel", "execution.cancel", map[string]any{"execution_id": other, "reason": "no longer needed"})
	if f.Error != nil {
		t.Fatalf("cancel: %+v", f.Error)
	}
	waitStatus(t, c, other, "cancelled")
	frames := c.readUntilCompleteAfter("sub2", "execution.subscribe", map[string]any{"execution_id": other})
	checkSeqs(t, frames, 1)
	if count(frames, "execution_cancelled") != 1 || count(frames, "workflow_start") != 1 {
		t.Fatalf("cancelled stream = %s", eventTypes(frames))
	}
	waitGauge(t, ts, "weft_executions_passivated", 0)
	waitGauge(t, ts, "weft_execution_actors", 0)
}

// After a restart waiting executions past the first WarmExecutions are
// passivated from the store's waiting index without running: the nap wakes
// when it was due, the approval when signalled, one already due at once.
func TestRestartPassivatesWaitingExecutions(t *testing.T) {
	dir := t.TempDir()
	ts := bootServer(t, dir, passivateSoon)
	c := dial(t, ts, adminToken)
	nap := startNoSub(t, c, "nap", map[string]any{"seconds": 4})
	due := startNoSub(t, c, "nap", map[string]any{"seconds": 1.5})
	approval := startNoSub(t, c, "approval", map[string]any{})
	for _, id := range []string{nap, due, approval} {
		waitStatus(t, c, id, "waiting")
	}
	waitGauge(t, ts, "weft_executions_passivated", 3)
	time.Sleep(1500 * time.Millisecond) // due wakes before the stop
	ts.stop(t)
	time.Sleep(500 * time.Millisecond)

	// One waiting execution is replayed at start (WarmExecutions), the
	// others passivated straight from the waiting index.
	ts2 := bootServer(t, dir, func(cfg *server.Config) { cfg.WarmExecutions = 1; passivateSoon(cfg) })
	c2 := dial(t, ts2, adminToken)
	frames := c2.readUntilCompleteAfter("sub-due", "execution.subscribe", map[string]any{"execution_id": due})
	if frames[len(frames)-1].Type != "execution_completed" || count(frames, "workflow_start") != 1 {
		t.Fatalf("due nap: %s", eventTypes(frames))
	}
	// The nap sleeps on in the heap, the approval in nothing but the
	// store: no actor for either.
	if got := getExecution(t, c2, nap).Status; got != "waiting" {
		t.Fatalf("nap after restart = %s", got)
	}
	waitGauge(t, ts2, "weft_executions_passivated", 2)
	waitGauge(t, ts2, "weft_execution_actors", 0)

	frames = c2.readUntilCompleteAfter("sub-nap", "execution.subscribe", map[string]any{"execution_id": nap})
	checkSeqs(t, frames, 1)
	first, last := frames[1].event(t), frames[len(frames)-1].event(t)
	if frames[len(frames)-1].Type != "execution_completed" || count(frames, "workflow_start") != 1 {
		t.Fatalf("nap: %s", eventTypes(frames))
	}
	if slept := last.Timestamp.Sub(first.Timestamp); slept < 4*time.Second || slept > 6*time.Second {
		t.Fatalf("nap took %s, want about 4s", slept)
	}
	c2.call("sig", "execution.signal", map[string]any{"execution_id": approval, "name": "approve", "payload": 1})
	if snap := waitStatus(t, c2, approval, "completed"); string(snap.Result) != "1" {
		t.Fatalf("approval result = %s", snap.Result)
	}
	waitGauge(t, ts2, "weft_executions_passivated", 0)
}
