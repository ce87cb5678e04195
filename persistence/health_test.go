package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// A full disk fails writes with ErrStorageFull, the store says so, and it
// notices by itself (its probe) when space comes back.
func TestFullDiskIsReportedAndSurvived(t *testing.T) {
	var full atomic.Bool
	var changes atomic.Int32
	s, _ := openStore(t, persistence.Options{
		FailWrites: func() error {
			if full.Load() {
				return fmt.Errorf("write weft.db: %w", syscall.ENOSPC)
			}
			return nil
		},
		OnHealth: func(error) { changes.Add(1) },
	})
	ctx := context.Background()
	exec := newExec("acme", "countdown", "exec_disk", time.Now())
	create(t, s, exec)

	full.Store(true)
	ev := events.New(events.TaskStart, events.TaskDetails{StepID: "1", Name: "a"})
	ev.Data.Seq, ev.Data.ExecutionID = 2, exec.ID
	err := s.Commit(ctx, persistence.Write{ExecutionID: exec.ID, Events: []events.Event{ev}})
	if !errors.Is(err, persistence.ErrStorageFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("commit on a full disk: %v, want ErrStorageFull wrapping ENOSPC", err)
	}
	if err := s.Writable(); !errors.Is(err, persistence.ErrStorageFull) {
		t.Fatalf("Writable = %v, want ErrStorageFull", err)
	}
	// Nothing of the failed write is there.
	if evs, _ := s.Events(ctx, exec.ID, 0, 0); len(evs) != 1 {
		t.Fatalf("%d events after a failed commit, want 1", len(evs))
	}

	full.Store(false) // space comes back; nobody writes
	deadline := time.Now().Add(5 * time.Second)
	for s.Writable() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not notice that it can write again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Commit(ctx, persistence.Write{ExecutionID: exec.ID, Events: []events.Event{ev}}); err != nil {
		t.Fatalf("commit after space came back: %v", err)
	}
	if n := changes.Load(); n != 2 {
		t.Fatalf("OnHealth called %d times, want 2 (unwritable, writable)", n)
	}
}

// An op that fails on its own content does not make the store unwritable.
func TestRejectedOpIsNotADiskFailure(t *testing.T) {
	s, _ := openStore(t, persistence.Options{})
	ev := events.New(events.TaskStart, events.TaskDetails{StepID: "1"})
	ev.Data.Seq = 7
	err := s.Commit(context.Background(), persistence.Write{ExecutionID: "exec_nope", Events: []events.Event{ev}})
	if err == nil || s.Writable() != nil {
		t.Fatalf("commit to an unknown execution: %v, Writable %v", err, s.Writable())
	}
}
