package jsstore

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// The crashes of a rerun's create and of an import, played as in
// recover_test.go.

func rerunStart(t *testing.T, id string) (events.Stored, []byte, []persistence.Step) {
	t.Helper()
	first := events.Event{Type: events.ExecutionStarted, Data: events.Data{Timestamp: t0, ExecutionID: id, Workflow: "wf", Seq: 1, Details: json.RawMessage(`{"parameters":{}}`)}}
	st, err := events.Encode(first)
	if err != nil {
		t.Fatal(err)
	}
	steps := []persistence.Step{{ID: "1", Kind: "task", Name: "one", Output: json.RawMessage(`1`), Attempts: 1, StartedAt: t0, CompletedAt: t0}}
	_, commit, err := stepsCommit(id, steps)
	if err != nil {
		t.Fatal(err)
	}
	return st, commit, steps
}

// A rerun's creator that dies after its record, or after its first
// message, leaves the reused checkpoints where the next owner finds them:
// Adopt applies them before the execution resumes.
func TestRerunCreatorDiesTheStepsReachTheOwner(t *testing.T) {
	for _, published := range []bool{false, true} {
		stores := testStores(t, 2)
		dead, owner := stores[0], stores[1]
		ctx := t.Context()
		first, commit, steps := rerunStart(t, "exec_1")
		raw, err := json.Marshal(recordValue{Exec: newExec("exec_1"), First: first.JSON, FirstCommit: commit})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dead.records.Create(ctx, recordKey("exec_1"), raw); err != nil {
			t.Fatal(err)
		}
		if published {
			if _, err := dead.publishFirst(ctx, newExec("exec_1"), first.JSON, commit); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := owner.Steps(ctx, "exec_1"); len(got) != 0 {
			t.Fatalf("published %v: steps before Adopt = %v (the test plays nothing)", published, got)
		}
		if err := owner.Adopt(ctx, "exec_1"); err != nil {
			t.Fatalf("published %v: Adopt: %v", published, err)
		}
		got, err := owner.Steps(ctx, "exec_1")
		if err != nil || len(got) != 1 || got["1"].Name != steps[0].Name {
			t.Fatalf("published %v: steps after Adopt = %v, %v; want step 1", published, got, err)
		}
		if evs, _ := owner.StoredEvents(ctx, "exec_1", 0, 0); len(evs) != 1 || string(evs[0].JSON) != string(first.JSON) {
			t.Fatalf("published %v: log = %v, want the first event once", published, evs)
		}
	}
}

// An import cut short (its record marked, part of its log stored) is
// invisible, and importing the record again finishes it.
func TestImportCutShortIsFinished(t *testing.T) {
	stores := testStores(t, 2)
	dead, other := stores[0], stores[1]
	ctx := t.Context()
	rec := persistence.Record{Version: persistence.ExportVersion, Execution: newExec("exec_1"),
		Steps:   []persistence.Step{{ID: "1", Kind: "task", Name: "one", Output: json.RawMessage(`1`), Attempts: 1}},
		Signals: []persistence.Signal{{Seq: 7, Name: "go", ReceivedAt: t0}}}
	for seq := uint64(1); seq <= 4; seq++ {
		st, err := events.Encode(ev("exec_1", seq))
		if err != nil {
			t.Fatal(err)
		}
		rec.Events = append(rec.Events, st.JSON)
	}
	e, evs, err := persistence.PrepareImport(rec)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(recordValue{Exec: e, Importing: true})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := dead.records.Create(ctx, recordKey("exec_1"), raw)
	if err != nil {
		t.Fatal(err)
	}
	st := &logState{rec: recordValue{Exec: e}, recRev: rev, subject: dead.names.eventsSubject("ws", "exec_1")}
	if err := dead.importLog(ctx, st, evs[:2], nil); err != nil {
		t.Fatal(err)
	}
	if err := dead.importSignals(ctx, e, rec.Signals); err != nil {
		t.Fatal(err)
	}

	if _, err := other.Execution(ctx, "exec_1"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("a half import is readable: %v", err)
	}
	if _, err := other.Export(ctx, "exec_1"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("a half import is exported: %v", err)
	}
	if err := other.Import(ctx, rec); err != nil {
		t.Fatalf("import again: %v", err)
	}
	got, err := other.Export(ctx, "exec_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 4 || len(got.Steps) != 1 || len(got.Signals) != 1 || got.Execution.LastSeq != 4 {
		t.Fatalf("finished import = %d events, steps %v, signals %v, last_seq %d", len(got.Events), got.Steps, got.Signals, got.Execution.LastSeq)
	}
	for i := range evs {
		if string(got.Events[i]) != string(evs[i]) {
			t.Fatalf("event %d = %s, want %s", i+1, got.Events[i], evs[i])
		}
	}
	if err := other.Import(ctx, rec); !errors.Is(err, persistence.ErrExists) {
		t.Fatalf("third import: %v, want ErrExists", err)
	}
	un, err := other.Unfinished(ctx)
	if err != nil || len(un) != 1 {
		t.Fatalf("Unfinished = %v, %v", un, err)
	}
}
