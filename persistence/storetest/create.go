package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

var createCases = []testCase{
	{"ReadBack", testCreateReadBack},
	{"UnknownIsNotFound", testUnknownIsNotFound},
	{"Refused", testCreateRefused},
	{"DuplicateID", testCreateDuplicateID},
}

var idempotencyCases = []testCase{
	{"SameKeyReturnsExisting", testIdempotentSameKey},
	{"OtherParametersGetTheFirst", testIdempotentOtherParameters},
	{"ScopedToWorkspaceAndWorkflow", testIdempotencyScope},
	{"ConcurrentCreatesMakeOne", testIdempotentConcurrent},
}

func testCreateReadBack(t *testing.T, s Store) {
	e := newExec("ws", "wf", "exec_1", t0)
	e.ConnectionID = "conn_1"
	mustCreate(t, s, e)

	want := e
	want.LastSeq = 1
	sameExecution(t, mustExecution(t, s, "exec_1"), want)

	evs, err := s.Events(t.Context(), "exec_1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != events.ExecutionStarted || evs[0].Seq() != 1 || evs[0].Data.ExecutionID != "exec_1" {
		t.Fatalf("events = %+v, want execution_started seq 1", evs)
	}
	steps, err := s.Steps(t.Context(), "exec_1")
	if err != nil || len(steps) != 0 {
		t.Fatalf("Steps = %v, %v; want empty", steps, err)
	}
	sigs, err := s.Signals(t.Context(), "exec_1")
	if err != nil || len(sigs) != 0 {
		t.Fatalf("Signals = %v, %v; want empty", sigs, err)
	}
}

func testUnknownIsNotFound(t *testing.T, s Store) {
	ctx := t.Context()
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	checks := map[string]error{}
	_, checks["Execution"] = s.Execution(ctx, "exec_nope")
	_, checks["Events"] = s.Events(ctx, "exec_nope", 0, 0)
	_, checks["StoredEvents"] = s.StoredEvents(ctx, "exec_nope", 0, 0)
	_, checks["Steps"] = s.Steps(ctx, "exec_nope")
	_, checks["Signals"] = s.Signals(ctx, "exec_nope")
	_, checks["AddSignal"] = s.AddSignal(ctx, "exec_nope", "go", nil, 0)
	checks["Commit"] = s.Commit(ctx, persistence.Write{ExecutionID: "exec_nope", Events: taskEvents("exec_nope", 2, 2)})
	checks["Commit status only"] = s.Commit(ctx, persistence.Write{ExecutionID: "exec_nope", Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, At: t0}})
	for name, err := range checks {
		if !errors.Is(err, persistence.ErrNotFound) {
			t.Errorf("%s of an unknown execution: %v, want ErrNotFound", name, err)
		}
	}
	if id, found, err := s.ExecutionByIdempotencyKey(ctx, "ws", "wf", "nope"); err != nil || found || id != "" {
		t.Errorf("ExecutionByIdempotencyKey(unknown) = %q, %v, %v; want not found", id, found, err)
	}
}

func testCreateRefused(t *testing.T, s Store) {
	good := newExec("ws", "wf", "exec_1", t0)
	first := event("exec_1", 1, events.ExecutionStarted)
	tests := []struct {
		name  string
		exec  func(e *persistence.Execution)
		first func(ev *events.Event)
		want  error
	}{
		{"no id", func(e *persistence.Execution) { e.ID = "" }, nil, persistence.ErrInvalid},
		{"no workspace", func(e *persistence.Execution) { e.Workspace = "" }, nil, persistence.ErrInvalid},
		{"unknown status", func(e *persistence.Execution) { e.Status = "sleeping" }, nil, persistence.ErrInvalid},
		{"first event not seq 1", nil, func(ev *events.Event) { ev.Data.Seq = 2 }, persistence.ErrSeqGap},
		{"first event of another execution", nil, func(ev *events.Event) { ev.Data.ExecutionID = "exec_other" }, persistence.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, ev := good, first
			if tc.exec != nil {
				tc.exec(&e)
			}
			if tc.first != nil {
				tc.first(&ev)
			}
			if _, err := s.CreateExecution(t.Context(), e, ev); !errors.Is(err, tc.want) {
				t.Fatalf("CreateExecution = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := s.Execution(t.Context(), "exec_1"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("a refused create left exec_1 behind: %v", err)
	}
}

func testCreateDuplicateID(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	again := newExec("ws", "other", "exec_1", t0.Add(time.Second))
	if _, err := s.CreateExecution(t.Context(), again, event("exec_1", 1, events.ExecutionStarted)); !errors.Is(err, persistence.ErrExists) {
		t.Fatalf("second create of exec_1 = %v, want ErrExists", err)
	}
	if got := mustExecution(t, s, "exec_1"); got.Workflow != "wf" {
		t.Fatalf("the refused create changed the record: workflow %q", got.Workflow)
	}
}

func withKey(e persistence.Execution, key string) persistence.Execution {
	e.IdempotencyKey = key
	return e
}

func testIdempotentSameKey(t *testing.T, s Store) {
	ctx := t.Context()
	first := withKey(newExec("ws", "wf", "exec_1", t0), "k1")
	mustCreate(t, s, first)

	again := withKey(newExec("ws", "wf", "exec_2", t0.Add(time.Second)), "k1")
	existing, err := s.CreateExecution(ctx, again, event("exec_2", 1, events.ExecutionStarted))
	if err != nil {
		t.Fatal(err)
	}
	if existing == nil || existing.ID != "exec_1" || existing.LastSeq != 1 {
		t.Fatalf("existing = %+v, want exec_1 with LastSeq 1", existing)
	}
	if _, err := s.Execution(ctx, "exec_2"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("the idempotent create stored exec_2: %v", err)
	}
	if id, found, err := s.ExecutionByIdempotencyKey(ctx, "ws", "wf", "k1"); err != nil || !found || id != "exec_1" {
		t.Fatalf("ExecutionByIdempotencyKey = %q, %v, %v; want exec_1", id, found, err)
	}
	unfinished, err := s.Unfinished(ctx)
	if err != nil || len(unfinished) != 1 {
		t.Fatalf("Unfinished = %v, %v; want exec_1 alone", ids(unfinished), err)
	}
}

// The store returns the first execution as it is; telling the caller that
// its parameters differ (CONFLICT) is the caller's job, so the parameters
// must come back intact.
func testIdempotentOtherParameters(t *testing.T, s Store) {
	first := withKey(newExec("ws", "wf", "exec_1", t0), "k1")
	mustCreate(t, s, first)
	other := withKey(newExec("ws", "wf", "exec_2", t0), "k1")
	other.Parameters = json.RawMessage(`{"x":2}`)
	existing, err := s.CreateExecution(t.Context(), other, event("exec_2", 1, events.ExecutionStarted))
	if err != nil {
		t.Fatal(err)
	}
	if existing == nil || existing.ID != "exec_1" || !sameJSON(existing.Parameters, first.Parameters) {
		t.Fatalf("existing = %+v, want exec_1 with its own parameters %s", existing, first.Parameters)
	}
}

func testIdempotencyScope(t *testing.T, s Store) {
	mustCreate(t, s, withKey(newExec("ws", "wf", "exec_1", t0), "k1"))
	// The same key in another workflow or another workspace is another
	// execution.
	mustCreate(t, s, withKey(newExec("ws", "wf2", "exec_2", t0), "k1"))
	mustCreate(t, s, withKey(newExec("ws2", "wf", "exec_3", t0), "k1"))
	for _, c := range []struct{ ws, wf, want string }{{"ws", "wf", "exec_1"}, {"ws", "wf2", "exec_2"}, {"ws2", "wf", "exec_3"}} {
		if id, found, err := s.ExecutionByIdempotencyKey(t.Context(), c.ws, c.wf, "k1"); err != nil || !found || id != c.want {
			t.Errorf("ExecutionByIdempotencyKey(%s, %s) = %q, %v, %v; want %s", c.ws, c.wf, id, found, err, c.want)
		}
	}
}

func testIdempotentConcurrent(t *testing.T, s Store) {
	const n = 8
	var wg sync.WaitGroup
	created := make([]bool, n)
	got := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("exec_%d", i)
			existing, err := s.CreateExecution(t.Context(), withKey(newExec("ws", "wf", id, t0), "same"), event(id, 1, events.ExecutionStarted))
			errs[i] = err
			if existing == nil {
				created[i], got[i] = true, id
			} else {
				got[i] = existing.ID
			}
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if created[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d creates created, want exactly 1", winners)
	}
	for i := range n {
		if got[i] != got[0] {
			t.Fatalf("creates returned %v, want one id for all", got)
		}
	}
	items, _, err := s.List(t.Context(), persistence.ListFilter{Workspace: "ws"})
	if err != nil || len(items) != 1 {
		t.Fatalf("List = %v, %v; want one execution", ids(items), err)
	}
}
