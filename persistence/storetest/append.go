package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

var appendCases = []testCase{
	{"EventsStepsAndStatusTogether", testAppendTogether},
	{"GapAndDuplicateRefused", testAppendGapRefused},
	{"RefusedWriteLeavesNothing", testRefusedWriteLeavesNothing},
	{"StatusWithoutEvents", testStatusWithoutEvents},
	{"StepCheckpointReplaced", testStepReplaced},
	{"QueuedWritesOfOneStep", testQueuedWritesOfOneStep},
	{"AsyncKeepsOrder", testAsyncKeepsOrder},
	{"ConcurrentExecutions", testConcurrentExecutions},
}

func testAppendTogether(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	done := t0.Add(time.Minute)
	mustCommit(t, s, persistence.Write{
		ExecutionID: "exec_1",
		Events:      taskEvents("exec_1", 2, 4),
		Steps:       []persistence.Step{step("a", t0), step("b", t0)},
		Status: &persistence.StatusUpdate{
			Status: weft.StatusCompleted, Result: json.RawMessage(`{"answer":42}`), At: done,
		},
	})
	e := mustExecution(t, s, "exec_1")
	if e.LastSeq != 4 || e.Status != weft.StatusCompleted || !sameJSON(e.Result, json.RawMessage(`{"answer":42}`)) || !e.UpdatedAt.Equal(done) {
		t.Fatalf("after the write: %+v", e)
	}
	steps, err := s.Steps(t.Context(), "exec_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps["a"].Name != "step a" || !sameJSON(steps["b"].Output, json.RawMessage(`{"ok":true}`)) || !steps["a"].StartedAt.Equal(t0) {
		t.Fatalf("steps = %+v", steps)
	}

	mustCreate(t, s, newExec("ws", "wf", "exec_2", t0))
	failure := &events.ErrorInfo{Message: "boom", Code: "TASK_FAILED"}
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_2", Events: taskEvents("exec_2", 2, 2),
		Status: &persistence.StatusUpdate{Status: weft.StatusFailed, Error: failure, At: done}})
	if e := mustExecution(t, s, "exec_2"); e.Status != weft.StatusFailed || e.Error == nil || *e.Error != *failure || e.Result != nil {
		t.Fatalf("failed execution = %+v", e)
	}
}

func testAppendGapRefused(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 2, 3)})
	tests := []struct {
		name   string
		events []events.Event
	}{
		{"gap", taskEvents("exec_1", 5, 5)},
		{"duplicate", taskEvents("exec_1", 3, 4)},
		{"from the start", taskEvents("exec_1", 1, 1)},
		{"hole inside the write", append(taskEvents("exec_1", 4, 4), event("exec_1", 6, events.TaskEnd))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Commit(t.Context(), persistence.Write{ExecutionID: "exec_1", Events: tc.events})
			if !errors.Is(err, persistence.ErrSeqGap) {
				t.Fatalf("Commit = %v, want ErrSeqGap", err)
			}
		})
	}
	if e := mustExecution(t, s, "exec_1"); e.LastSeq != 3 {
		t.Fatalf("LastSeq after refused writes = %d, want 3", e.LastSeq)
	}
	// The log goes on where it was.
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 4, 4)})
	st, err := s.StoredEvents(t.Context(), "exec_1", 0, 0)
	if err != nil || !slices.Equal(seqsOf(st), seqRange(1, 4)) {
		t.Fatalf("log = %v, %v; want 1..4", seqsOf(st), err)
	}
}

// A write commits whole or not at all: a refused one leaves neither its
// checkpoints nor its status nor its consumed signals.
func testRefusedWriteLeavesNothing(t *testing.T, s Store) {
	ctx := t.Context()
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	sig, err := s.AddSignal(ctx, "exec_1", "go", json.RawMessage(`1`), 0)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Commit(ctx, persistence.Write{
		ExecutionID:    "exec_1",
		Events:         taskEvents("exec_1", 3, 3), // seq 2 is missing
		Steps:          []persistence.Step{step("a", t0)},
		Status:         &persistence.StatusUpdate{Status: weft.StatusCompleted, At: t0},
		ConsumeSignals: []uint64{sig.Seq},
	})
	if !errors.Is(err, persistence.ErrSeqGap) {
		t.Fatalf("Commit = %v, want ErrSeqGap", err)
	}
	if e := mustExecution(t, s, "exec_1"); e.Status != weft.StatusRunning || e.LastSeq != 1 {
		t.Fatalf("the refused write changed the record: %+v", e)
	}
	if steps, err := s.Steps(ctx, "exec_1"); err != nil || len(steps) != 0 {
		t.Fatalf("the refused write left steps: %v, %v", steps, err)
	}
	if sigs, err := s.Signals(ctx, "exec_1"); err != nil || len(sigs) != 1 {
		t.Fatalf("the refused write consumed the signal: %v, %v", sigs, err)
	}
}

func testStatusWithoutEvents(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Status: &persistence.StatusUpdate{Status: weft.StatusWaiting, At: t0.Add(time.Second)}})
	e := mustExecution(t, s, "exec_1")
	if e.Status != weft.StatusWaiting || e.LastSeq != 1 {
		t.Fatalf("after a status-only write: %+v", e)
	}
	// A write of steps alone, then events after it: the log is unchanged
	// by the first and continues with the second.
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Steps: []persistence.Step{step("a", t0)}})
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 2, 2)})
	if e := mustExecution(t, s, "exec_1"); e.LastSeq != 2 {
		t.Fatalf("LastSeq = %d, want 2", e.LastSeq)
	}
}

// A step is checkpointed pending when it starts to wait and again when it
// completes: the later checkpoint replaces the earlier.
func testStepReplaced(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	pending := persistence.Step{ID: "sleep-1", Kind: "sleep", Name: "nap", State: persistence.StatePending, StartedAt: t0, WakeAt: t0.Add(time.Hour)}
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 2, 2), Steps: []persistence.Step{pending}})
	steps, err := s.Steps(t.Context(), "exec_1")
	if err != nil || !steps["sleep-1"].Pending() || !steps["sleep-1"].WakeAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("steps = %+v, %v; want sleep-1 pending until t0+1h", steps, err)
	}
	completed := pending
	completed.State, completed.CompletedAt, completed.WakeAt = "", t0.Add(time.Hour), time.Time{}
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 3, 3), Steps: []persistence.Step{completed}})
	steps, err = s.Steps(t.Context(), "exec_1")
	if err != nil || len(steps) != 1 || steps["sleep-1"].Pending() || !steps["sleep-1"].CompletedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("steps = %+v, %v; want sleep-1 completed", steps, err)
	}
}

// A step's pending checkpoint and its completion queued back to back (a
// store may commit them together): the completion is what stays, and a
// write refused in the middle of the queue fails alone.
func testQueuedWritesOfOneStep(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	pending := persistence.Step{ID: "wait-1", Kind: "signal", Name: "approval", State: persistence.StatePending, StartedAt: t0, Signal: "approve"}
	completed := pending
	completed.State, completed.Signal, completed.CompletedAt = "", "", t0.Add(time.Minute)
	writes := []persistence.Write{
		{ExecutionID: "exec_1", Events: taskEvents("exec_1", 2, 2), Steps: []persistence.Step{pending}, Status: &persistence.StatusUpdate{Status: weft.StatusWaiting, At: t0}},
		{ExecutionID: "exec_1", Events: taskEvents("exec_1", 5, 5)}, // a gap: refused
		{ExecutionID: "exec_1", Events: taskEvents("exec_1", 3, 4), Steps: []persistence.Step{completed}, Status: &persistence.StatusUpdate{Status: weft.StatusRunning, At: t0.Add(time.Minute)}},
		{ExecutionID: "exec_1", Steps: []persistence.Step{step("other", t0)}},
	}
	errs := make([]chan error, len(writes))
	for i, w := range writes {
		errs[i] = make(chan error, 1)
		s.CommitAsync(w, func(err error) { errs[i] <- err })
	}
	for i := range writes {
		err := <-errs[i]
		if i == 1 && !errors.Is(err, persistence.ErrSeqGap) || i != 1 && err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	steps, err := s.Steps(t.Context(), "exec_1")
	if err != nil || len(steps) != 2 || steps["wait-1"].Pending() || !steps["wait-1"].CompletedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("steps = %+v, %v; want wait-1 completed and other", steps, err)
	}
	if e := mustExecution(t, s, "exec_1"); e.Status != weft.StatusRunning || e.LastSeq != 4 {
		t.Fatalf("record = %+v, want running at seq 4", e)
	}
	if idx, _ := s.WaitingIndex(t.Context()); len(idx) != 0 {
		t.Fatalf("WaitingIndex = %v, want nothing waiting", idx)
	}
}

// The actors keep two writes of one execution with the store at once and
// rely on them committing in the order they were queued.
func testAsyncKeepsOrder(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	const n = 60
	var mu sync.Mutex
	var order []int
	var errs []error
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		seq := uint64(i + 2)
		s.CommitAsync(persistence.Write{
			ExecutionID: "exec_1",
			Events:      taskEvents("exec_1", seq, seq),
			Steps:       []persistence.Step{step(fmt.Sprintf("s%d", i), t0)},
		}, func(err error) {
			mu.Lock()
			order = append(order, i)
			errs = append(errs, err)
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	for i := range n {
		if order[i] != i || errs[i] != nil {
			t.Fatalf("done callbacks in order %v with errors %v, want 0..%d and no error", order, errs, n-1)
		}
	}
	st, err := s.StoredEvents(t.Context(), "exec_1", 0, 0)
	if err != nil || !slices.Equal(seqsOf(st), seqRange(1, n+1)) {
		t.Fatalf("log = %v, %v; want 1..%d", seqsOf(st), err, n+1)
	}
	if steps, err := s.Steps(t.Context(), "exec_1"); err != nil || len(steps) != n {
		t.Fatalf("%d steps, %v; want %d", len(steps), err, n)
	}
}

func testConcurrentExecutions(t *testing.T, s Store) {
	const execs, writes = 12, 15
	for i := range execs {
		mustCreate(t, s, newExec("ws", "wf", fmt.Sprintf("exec_%d", i), t0.Add(time.Duration(i))))
	}
	var wg sync.WaitGroup
	errs := make(chan error, execs)
	for i := range execs {
		wg.Go(func() {
			id := fmt.Sprintf("exec_%d", i)
			for w := range writes {
				seq := uint64(2 + 2*w)
				if err := s.Commit(t.Context(), persistence.Write{ExecutionID: id, Events: taskEvents(id, seq, seq+1)}); err != nil {
					errs <- fmt.Errorf("%s write %d: %w", id, w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range execs {
		id := fmt.Sprintf("exec_%d", i)
		evs, err := s.Events(t.Context(), id, 0, 0)
		if err != nil || len(evs) != 1+2*writes {
			t.Fatalf("%s: %d events, %v", id, len(evs), err)
		}
		for j, ev := range evs {
			if ev.Seq() != uint64(j+1) || ev.Data.ExecutionID != id || !bytes.Contains(ev.Data.Details, []byte(id)) {
				t.Fatalf("%s: event %d = %+v", id, j, ev)
			}
		}
	}
}
