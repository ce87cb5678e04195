package jsstore

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// A node killed between appending a write and applying it leaves the log
// ahead of the buckets. The node that adopts the execution applies that
// last write before it resumes the execution: it sees the step's
// checkpoint (so the step does not run again), the status and the
// consumed signal; its next append continues the log; adopting again
// changes nothing.
func TestAdoptAppliesTheKilledOwnersLastWrite(t *testing.T) {
	stores := testStores(t, 3)
	killed, adopter, another := stores[0], stores[1], stores[2]
	ctx := t.Context()
	mustCreate(t, killed, "exec_1")
	if err := killed.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 2)},
		Steps: []persistence.Step{{ID: "s1", Name: "applied before the kill"}}}); err != nil {
		t.Fatal(err)
	}
	sig, err := killed.AddSignal(ctx, "exec_1", "go", json.RawMessage(`{}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	wake := t0.Add(time.Hour)
	appendOnly(t, killed, persistence.Write{
		ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 3), ev("exec_1", 4)},
		Steps:          []persistence.Step{{ID: "s2", Name: "appended, not applied", Output: json.RawMessage(`{"n":2}`)}},
		Status:         &persistence.StatusUpdate{Status: weft.StatusWaiting, At: t0.Add(time.Minute), WakeAt: wake},
		ConsumeSignals: []uint64{sig.Seq},
	})
	// What the kill left: the events are stored, the buckets are behind.
	if steps, _ := adopter.Steps(ctx, "exec_1"); len(steps) != 1 {
		t.Fatalf("steps before Adopt = %v, want only s1", steps)
	}
	if e, _ := adopter.Execution(ctx, "exec_1"); e.Status != weft.StatusRunning || e.LastSeq != 4 {
		t.Fatalf("before Adopt: status %s, last seq %d; want running, 4", e.Status, e.LastSeq)
	}

	if err := adopter.Adopt(ctx, "exec_1"); err != nil {
		t.Fatal(err)
	}
	want := adopted{steps: 2, s2: "appended, not applied", status: weft.StatusWaiting, lastSeq: 4, wake: wake}
	checkAdopted(t, adopter, "exec_1", want)

	// Idempotent: again on the same store, and on a third node.
	if err := adopter.Adopt(ctx, "exec_1"); err != nil {
		t.Fatalf("second Adopt: %v", err)
	}
	if err := another.Adopt(ctx, "exec_1"); err != nil {
		t.Fatalf("Adopt on a third store: %v", err)
	}
	checkAdopted(t, adopter, "exec_1", want)

	// The adopter's next write continues the log after the killed owner's.
	if err := adopter.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 4)}}); !errors.Is(err, persistence.ErrSeqGap) {
		t.Fatalf("a write repeating seq 4 = %v, want ErrSeqGap", err)
	}
	if err := adopter.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 5)},
		Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, Result: json.RawMessage(`1`), At: t0.Add(2 * time.Minute)}}); err != nil {
		t.Fatalf("the adopter's first write: %v", err)
	}
	got, err := adopter.StoredEvents(ctx, "exec_1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got {
		if s.Seq != uint64(i+1) {
			t.Fatalf("log seqs: event %d has seq %d", i, s.Seq)
		}
	}
	if len(got) != 5 {
		t.Fatalf("log has %d events, want 5", len(got))
	}
	if e, _ := adopter.Execution(ctx, "exec_1"); e.Status != weft.StatusCompleted || e.LastSeq != 5 {
		t.Fatalf("after the adopter's write: status %s, last seq %d", e.Status, e.LastSeq)
	}
}

// The killed owner's unapplied write ended the execution: Adopt records
// the end, and the execution leaves the unfinished index (no node resumes
// it).
func TestAdoptAppliesAnUnappliedEnd(t *testing.T) {
	stores := testStores(t, 2)
	killed, adopter := stores[0], stores[1]
	ctx := t.Context()
	mustCreate(t, killed, "exec_1")
	appendOnly(t, killed, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 2)},
		Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, Result: json.RawMessage(`{"ok":true}`), At: t0.Add(time.Minute)}})
	if unfinished, _ := adopter.Unfinished(ctx); len(unfinished) != 1 {
		t.Fatalf("unfinished before Adopt: %d, want exec_1", len(unfinished))
	}
	for range 2 {
		if err := adopter.Adopt(ctx, "exec_1"); err != nil {
			t.Fatal(err)
		}
		e, err := adopter.Execution(ctx, "exec_1")
		if err != nil || e.Status != weft.StatusCompleted || string(e.Result) != `{"ok":true}` {
			t.Fatalf("after Adopt: %+v, %v", e, err)
		}
		if unfinished, err := adopter.Unfinished(ctx); err != nil || len(unfinished) != 0 {
			t.Fatalf("unfinished after Adopt = %+v, %v; want none", unfinished, err)
		}
	}
}

func TestAdoptRefusals(t *testing.T) {
	s := testStores(t, 1)[0]
	if err := s.Adopt(t.Context(), "exec_unknown"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Adopt of an unknown execution = %v, want ErrNotFound", err)
	}
	mustCreate(t, s, "exec_1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Adopt(t.Context(), "exec_1"); !errors.Is(err, persistence.ErrClosed) {
		t.Fatalf("Adopt after Close = %v, want ErrClosed", err)
	}
}

type adopted struct {
	steps   int
	s2      string
	status  weft.Status
	lastSeq uint64
	wake    time.Time
}

func checkAdopted(t *testing.T, s *Store, id string, want adopted) {
	t.Helper()
	ctx := t.Context()
	steps, err := s.Steps(ctx, id)
	if err != nil || len(steps) != want.steps || steps["s2"].Name != want.s2 || string(steps["s2"].Output) != `{"n":2}` {
		t.Fatalf("steps = %v, %v; want %d with s2 %q", steps, err, want.steps, want.s2)
	}
	e, err := s.Execution(ctx, id)
	if err != nil || e.Status != want.status || e.LastSeq != want.lastSeq {
		t.Fatalf("execution = status %s, last seq %d, %v; want %s, %d", e.Status, e.LastSeq, err, want.status, want.lastSeq)
	}
	if pending, err := s.Signals(ctx, id); err != nil || len(pending) != 0 {
		t.Fatalf("signals = %v, %v; want the consumed one gone", pending, err)
	}
	idx, err := s.WaitingIndex(ctx)
	if err != nil || !idx[id].Equal(want.wake) {
		t.Fatalf("WaitingIndex = %v, %v; want %s at %s", idx, err, id, want.wake)
	}
}
