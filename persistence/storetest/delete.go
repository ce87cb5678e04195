package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

var deleteCases = []testCase{
	{"EndedGoesWhole", testDeleteEnded},
	{"LiveRefused", testDeleteLiveRefused},
	{"OtherWorkspaceNotFound", testDeleteOtherWorkspace},
}

var closeCases = []testCase{
	{"WritesAfterCloseRefused", testWritesAfterClose},
}

func testDeleteEnded(t *testing.T, s Store) {
	ctx := t.Context()
	mustCreate(t, s, withKey(newExec("ws", "wf", "exec_1", t0), "k1"))
	mustCreate(t, s, newExec("ws", "wf", "exec_2", t0))
	if _, err := s.AddSignal(ctx, "exec_1", "go", nil, 0); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 2, 3), Steps: []persistence.Step{step("a", t0)},
		Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, At: t0}})

	rec, err := s.DeleteExecution(ctx, "ws", "exec_1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != "exec_1" || rec.Status != weft.StatusCompleted || rec.LastSeq != 3 || rec.IdempotencyKey != "k1" {
		t.Fatalf("DeleteExecution returned %+v", rec)
	}
	checks := map[string]error{}
	_, checks["Execution"] = s.Execution(ctx, "exec_1")
	_, checks["StoredEvents"] = s.StoredEvents(ctx, "exec_1", 0, 0)
	_, checks["Steps"] = s.Steps(ctx, "exec_1")
	_, checks["Signals"] = s.Signals(ctx, "exec_1")
	_, checks["second delete"] = s.DeleteExecution(ctx, "ws", "exec_1")
	for name, err := range checks {
		if !errors.Is(err, persistence.ErrNotFound) {
			t.Errorf("%s after the delete: %v, want ErrNotFound", name, err)
		}
	}
	if got := list(t, s, persistence.ListFilter{Workspace: "ws"}); !slices.Equal(got, []string{"exec_2"}) {
		t.Errorf("List after the delete = %v, want exec_2", got)
	}

	// The idempotency key went with it: the same key starts anew.
	if _, found, _ := s.ExecutionByIdempotencyKey(ctx, "ws", "wf", "k1"); found {
		t.Error("the idempotency key outlived its execution")
	}
	existing, err := s.CreateExecution(ctx, withKey(newExec("ws", "wf", "exec_3", t0), "k1"), event("exec_3", 1, events.ExecutionStarted))
	if err != nil || existing != nil {
		t.Fatalf("create with the freed key = %+v, %v; want a new execution", existing, err)
	}
	// And the other execution is untouched.
	if e := mustExecution(t, s, "exec_2"); e.LastSeq != 1 || e.Status != weft.StatusRunning {
		t.Fatalf("exec_2 after deleting exec_1: %+v", e)
	}
}

func testDeleteLiveRefused(t *testing.T, s Store) {
	for _, st := range []weft.Status{weft.StatusRunning, weft.StatusWaiting, weft.StatusQueued} {
		t.Run(string(st), func(t *testing.T) {
			id := "exec_" + string(st)
			e := newExec("ws", "wf", id, t0)
			e.Status = st
			mustCreate(t, s, e)
			_, err := s.DeleteExecution(t.Context(), "ws", id)
			var notEnded *persistence.NotEndedError
			if !errors.Is(err, persistence.ErrNotEnded) || !errors.As(err, &notEnded) || notEnded.Status != st || notEnded.ID != id {
				t.Fatalf("DeleteExecution of a %s execution = %v, want a NotEndedError saying %s", st, err, st)
			}
			if got := mustExecution(t, s, id); got.Status != st || got.LastSeq != 1 {
				t.Fatalf("the refused delete changed it: %+v", got)
			}
		})
	}
}

func testDeleteOtherWorkspace(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	setStatus(t, s, "exec_1", weft.StatusCompleted, t0)
	if _, err := s.DeleteExecution(t.Context(), "ws-other", "exec_1"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("delete from another workspace = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteExecution(t.Context(), "ws", "exec_nope"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("delete of an unknown id = %v, want ErrNotFound", err)
	}
	mustExecution(t, s, "exec_1")
}

func testWritesAfterClose(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Commit(t.Context(), persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 2, 2)}); !errors.Is(err, persistence.ErrClosed) {
		t.Fatalf("Commit after Close = %v, want ErrClosed", err)
	}
	done := make(chan error, 1)
	s.CommitAsync(persistence.Write{ExecutionID: "exec_1", Events: taskEvents("exec_1", 2, 2)}, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, persistence.ErrClosed) {
		t.Fatalf("CommitAsync after Close = %v, want ErrClosed", err)
	}
	if _, err := s.CreateExecution(t.Context(), newExec("ws", "wf", "exec_2", t0), event("exec_2", 1, events.ExecutionStarted)); !errors.Is(err, persistence.ErrClosed) {
		t.Fatalf("CreateExecution after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
