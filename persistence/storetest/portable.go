package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// PortableStore is a Store that also creates an execution with copied
// checkpoints (a rerun from a step) and exports and imports executions
// whole (persistence/portable.go).
type PortableStore interface {
	Store
	CreateExecutionWithSteps(ctx context.Context, exec persistence.Execution, first events.Event, steps []persistence.Step) error
	Export(ctx context.Context, id string) (persistence.Record, error)
	Import(ctx context.Context, rec persistence.Record) error
}

var _ PortableStore = (*persistence.Store)(nil)

// RunPortable runs the rerun and export/import cases, each on fresh
// stores from open (a case that moves an execution between two stores
// opens two).
func RunPortable(t *testing.T, open func(t *testing.T) PortableStore) {
	twice := func(fn func(t *testing.T, from, to PortableStore)) func(t *testing.T, s PortableStore) {
		return func(t *testing.T, s PortableStore) { fn(t, s, open(t)) }
	}
	runCases(t, open, []caseOf[PortableStore]{
		{"CreateWithSteps", testCreateWithSteps},
		{"CreateWithStepsRefused", testCreateWithStepsRefused},
		{"ExportUnknown", testExportUnknown},
		{"RoundTrip", twice(testExportImportRoundTrip)},
		{"ImportIsIdempotent", twice(testImportIdempotent)},
		{"ImportConflicts", twice(testImportConflicts)},
		{"ImportRefused", testImportRefused},
		{"ImportedUnfinishedGoesOn", twice(testImportedUnfinishedGoesOn)},
	})
}

func testCreateWithSteps(t *testing.T, s PortableStore) {
	ctx := t.Context()
	e := newExec("ws", "wf", "exec_rerun", t0)
	steps := []persistence.Step{step("1", t0), step("2", t0), step("2.1", t0)}
	if err := s.CreateExecutionWithSteps(ctx, e, event(e.ID, 1, events.ExecutionStarted), steps); err != nil {
		t.Fatalf("CreateExecutionWithSteps: %v", err)
	}
	want := e
	want.LastSeq = 1
	sameExecution(t, mustExecution(t, s, e.ID), want)
	got, err := s.Steps(ctx, e.ID)
	if err != nil || len(got) != len(steps) {
		t.Fatalf("Steps = %v, %v; want %d", got, err, len(steps))
	}
	for _, st := range steps {
		if g, ok := got[st.ID]; !ok || g.Name != st.Name || !sameJSON(g.Output, st.Output) || g.Pending() {
			t.Fatalf("step %s = %+v, want %+v", st.ID, g, st)
		}
	}
	un, err := s.Unfinished(ctx)
	if err != nil || len(un) != 1 || un[0].ID != e.ID {
		t.Fatalf("Unfinished = %v, %v; want %s", ids(un), err, e.ID)
	}
	// It goes on like any execution.
	mustCommit(t, s, persistence.Write{ExecutionID: e.ID, Events: taskEvents(e.ID, 2, 2), Steps: []persistence.Step{step("3", t0)}})
	if got, _ := s.Steps(ctx, e.ID); len(got) != 4 {
		t.Fatalf("after a write, %d steps, want 4", len(got))
	}
}

func testCreateWithStepsRefused(t *testing.T, s PortableStore) {
	ctx := t.Context()
	keyed := newExec("ws", "wf", "exec_keyed", t0)
	keyed.IdempotencyKey = "k"
	noID := step("", t0)
	cases := map[string]struct {
		exec  persistence.Execution
		steps []persistence.Step
	}{
		"idempotency key": {keyed, nil},
		"step without id": {newExec("ws", "wf", "exec_noid", t0), []persistence.Step{step("1", t0), noID}},
	}
	for name, c := range cases {
		err := s.CreateExecutionWithSteps(ctx, c.exec, event(c.exec.ID, 1, events.ExecutionStarted), c.steps)
		if !errors.Is(err, persistence.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
		if _, err := s.Execution(ctx, c.exec.ID); !errors.Is(err, persistence.ErrNotFound) {
			t.Errorf("%s: refused create left the execution (%v)", name, err)
		}
	}
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	dup := newExec("ws", "wf", "exec_1", t0)
	dup.StartedBy = "key:other"
	err := s.CreateExecutionWithSteps(ctx, dup, event("exec_1", 1, events.ExecutionStarted), []persistence.Step{step("1", t0)})
	if !errors.Is(err, persistence.ErrExists) {
		t.Errorf("duplicate id: err = %v, want ErrExists", err)
	}
}

func testExportUnknown(t *testing.T, s PortableStore) {
	if _, err := s.Export(t.Context(), "exec_nope"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Export(unknown) err = %v, want ErrNotFound", err)
	}
}

// portableExec is an execution with three writes, two checkpoints and a
// pending signal; ended with status unless it is "".
func portableExec(t *testing.T, s PortableStore, id string, status weft.Status) persistence.Execution {
	t.Helper()
	e := newExec("ws", "wf", id, t0)
	mustCreate(t, s, e)
	mustCommit(t, s, persistence.Write{ExecutionID: id, Events: taskEvents(id, 2, 3), Steps: []persistence.Step{step("1", t0)}})
	mustCommit(t, s, persistence.Write{ExecutionID: id, Events: taskEvents(id, 4, 4), Steps: []persistence.Step{step("2", t0)}})
	if _, err := s.AddSignal(t.Context(), id, "approve", json.RawMessage(`{"ok":true}`), 0); err != nil {
		t.Fatal(err)
	}
	if status != "" {
		end := t0.Add(time.Second)
		mustCommit(t, s, persistence.Write{ExecutionID: id, Events: taskEvents(id, 5, 5),
			Status: &persistence.StatusUpdate{Status: status, Result: json.RawMessage(`{"r":1}`), At: end}})
	}
	return mustExecution(t, s, id)
}

func mustExport(t *testing.T, s PortableStore, id string) persistence.Record {
	t.Helper()
	rec, err := s.Export(t.Context(), id)
	if err != nil {
		t.Fatalf("Export(%s): %v", id, err)
	}
	return rec
}

// sameRecord compares two exports; a signal's seq is the store's own
// (a JetStream store numbers its inbox by stream sequence), so it is left
// out.
func sameRecord(t *testing.T, got, want persistence.Record) {
	t.Helper()
	sameExecution(t, got.Execution, want.Execution)
	if len(got.Events) != len(want.Events) {
		t.Fatalf("%d events, want %d", len(got.Events), len(want.Events))
	}
	for i := range got.Events {
		if string(got.Events[i]) != string(want.Events[i]) {
			t.Fatalf("event %d = %s, want %s", i+1, got.Events[i], want.Events[i])
		}
	}
	if len(got.Steps) != len(want.Steps) {
		t.Fatalf("steps = %+v, want %+v", got.Steps, want.Steps)
	}
	for i := range got.Steps {
		if got.Steps[i].ID != want.Steps[i].ID || !sameJSON(got.Steps[i].Output, want.Steps[i].Output) {
			t.Fatalf("step %d = %+v, want %+v", i, got.Steps[i], want.Steps[i])
		}
	}
	if len(got.Signals) != len(want.Signals) {
		t.Fatalf("signals = %+v, want %+v", got.Signals, want.Signals)
	}
	for i := range got.Signals {
		g, w := got.Signals[i], want.Signals[i]
		if g.Name != w.Name || !sameJSON(g.Payload, w.Payload) || !g.ReceivedAt.Equal(w.ReceivedAt) {
			t.Fatalf("signal %d = %+v, want %+v", i, g, w)
		}
	}
}

func testExportImportRoundTrip(t *testing.T, from, to PortableStore) {
	ctx := t.Context()
	for _, c := range []struct {
		id     string
		status weft.Status
	}{{"exec_done", weft.StatusCompleted}, {"exec_live", ""}} {
		e := portableExec(t, from, c.id, c.status)
		rec := mustExport(t, from, c.id)
		if rec.Version != persistence.ExportVersion || rec.Execution.LastSeq != e.LastSeq || len(rec.Events) != int(e.LastSeq) ||
			len(rec.Steps) != 2 || rec.Steps[0].ID != "1" || len(rec.Signals) != 1 {
			t.Fatalf("%s: export = version %d, last_seq %d, %d events, steps %+v, %d signals", c.id, rec.Version,
				rec.Execution.LastSeq, len(rec.Events), rec.Steps, len(rec.Signals))
		}
		if err := to.Import(ctx, rec); err != nil {
			t.Fatalf("Import(%s): %v", c.id, err)
		}
		sameRecord(t, mustExport(t, to, c.id), rec)
		sameExecution(t, mustExecution(t, to, c.id), e)
	}
	page, _, err := to.List(ctx, persistence.ListFilter{Workspace: "ws"})
	if err != nil || len(page) != 2 {
		t.Fatalf("List after import = %v, %v; want both", ids(page), err)
	}
	un, err := to.Unfinished(ctx)
	if err != nil || len(un) != 1 || un[0].ID != "exec_live" {
		t.Fatalf("Unfinished after import = %v, %v; want exec_live", ids(un), err)
	}
}

func testImportIdempotent(t *testing.T, from, to PortableStore) {
	ctx := t.Context()
	portableExec(t, from, "exec_1", "")
	rec := mustExport(t, from, "exec_1")
	if err := to.Import(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := to.Import(ctx, rec); !errors.Is(err, persistence.ErrExists) {
		t.Fatalf("second Import err = %v, want ErrExists", err)
	}
	// Resumed and advanced since: still the same import.
	mustCommit(t, to, persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 5, 6)})
	if err := to.Import(ctx, rec); !errors.Is(err, persistence.ErrExists) {
		t.Fatalf("Import after the execution went on: err = %v, want ErrExists", err)
	}
	if got := mustExecution(t, to, "exec_1").LastSeq; got != 6 {
		t.Fatalf("a skipped import changed the log: last_seq %d, want 6", got)
	}
	if sigs, err := to.Signals(ctx, "exec_1"); err != nil || len(sigs) != 1 {
		t.Fatalf("signals after imports = %v, %v; want 1", sigs, err)
	}
}

func testImportConflicts(t *testing.T, from, to PortableStore) {
	ctx := t.Context()
	portableExec(t, from, "exec_1", weft.StatusCompleted)
	rec := mustExport(t, from, "exec_1")

	mustCreate(t, to, newExec("ws", "wf", "exec_1", t0)) // another history
	if err := to.Import(ctx, rec); !errors.Is(err, persistence.ErrImportConflict) {
		t.Fatalf("Import over another history: err = %v, want ErrImportConflict", err)
	}
	other := newExec("ws", "wf-other", "exec_2", t0)
	mustCreate(t, to, other)
	rec2 := rec
	rec2.Execution.ID = "exec_2"
	rec2.Events = []json.RawMessage{mustEncode(t, event("exec_2", 1, events.ExecutionStarted))}
	if err := to.Import(ctx, rec2); !errors.Is(err, persistence.ErrImportConflict) {
		t.Fatalf("Import over another workflow: err = %v, want ErrImportConflict", err)
	}
	if got := mustExecution(t, to, "exec_1"); got.LastSeq != 1 || got.Status != weft.StatusRunning {
		t.Fatalf("a conflicting import changed the stored execution: %+v", got)
	}
}

func mustEncode(t *testing.T, ev events.Event) json.RawMessage {
	t.Helper()
	st, err := events.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return st.JSON
}

func testImportRefused(t *testing.T, s PortableStore) {
	ctx := t.Context()
	good := persistence.Record{Version: persistence.ExportVersion, Execution: newExec("ws", "wf", "exec_1", t0),
		Events: []json.RawMessage{mustEncode(t, event("exec_1", 1, events.ExecutionStarted))}}
	mutate := func(fn func(r *persistence.Record)) persistence.Record {
		r := good
		r.Events = append([]json.RawMessage(nil), good.Events...)
		fn(&r)
		return r
	}
	cases := []struct {
		name string
		rec  persistence.Record
		want error
	}{
		{"version", mutate(func(r *persistence.Record) { r.Version = 99 }), persistence.ErrInvalid},
		{"no id", mutate(func(r *persistence.Record) { r.Execution.ID = "" }), persistence.ErrInvalid},
		{"no workspace", mutate(func(r *persistence.Record) { r.Execution.Workspace = "" }), persistence.ErrInvalid},
		{"bad status", mutate(func(r *persistence.Record) { r.Execution.Status = "sleeping" }), persistence.ErrInvalid},
		{"no events", mutate(func(r *persistence.Record) { r.Events = nil }), persistence.ErrInvalid},
		{"not json", mutate(func(r *persistence.Record) { r.Events[0] = json.RawMessage(`{`) }), persistence.ErrInvalid},
		{"seq gap", mutate(func(r *persistence.Record) {
			r.Events = append(r.Events, mustEncode(t, event("exec_1", 3, events.TaskEnd)))
		}), persistence.ErrSeqGap},
		{"another execution's event", mutate(func(r *persistence.Record) {
			r.Events[0] = mustEncode(t, event("exec_2", 1, events.ExecutionStarted))
		}), persistence.ErrSeqGap},
		{"step without id", mutate(func(r *persistence.Record) { r.Steps = []persistence.Step{step("", t0)} }), persistence.ErrInvalid},
	}
	for _, c := range cases {
		if err := s.Import(ctx, c.rec); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if _, err := s.Execution(ctx, "exec_1"); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("%s: a refused import stored the execution (%v)", c.name, err)
		}
	}
	if err := s.Import(ctx, good); err != nil {
		t.Fatalf("the good record: %v", err)
	}
}

func testImportedUnfinishedGoesOn(t *testing.T, from, to PortableStore) {
	ctx := t.Context()
	portableExec(t, from, "exec_1", "")
	if err := to.Import(ctx, mustExport(t, from, "exec_1")); err != nil {
		t.Fatal(err)
	}
	sigs, err := to.Signals(ctx, "exec_1")
	if err != nil || len(sigs) != 1 {
		t.Fatalf("Signals = %v, %v; want 1", sigs, err)
	}
	end := t0.Add(time.Minute)
	mustCommit(t, to, persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 5, 6),
		Steps: []persistence.Step{step("3", t0)}, ConsumeSignals: []uint64{sigs[0].Seq},
		Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, At: end}})
	got := mustExecution(t, to, "exec_1")
	if got.Status != weft.StatusCompleted || got.LastSeq != 6 {
		t.Fatalf("after its end: %+v", got)
	}
	if steps, _ := to.Steps(ctx, "exec_1"); len(steps) != 3 {
		t.Fatalf("steps = %v, want 3", steps)
	}
	if sigs, _ := to.Signals(ctx, "exec_1"); len(sigs) != 0 {
		t.Fatalf("signal not consumed: %v", sigs)
	}
	if un, _ := to.Unfinished(ctx); len(un) != 0 {
		t.Fatalf("Unfinished = %v, want none", ids(un))
	}
}
