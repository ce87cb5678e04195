package persistence_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

func newSchedule(ws, id string) persistence.Schedule {
	return persistence.Schedule{
		ID: id, Workspace: ws, Workflow: "echo", Parameters: json.RawMessage(`{"n":1}`),
		Every: "1m0s", Overlap: "skip", CatchUp: "skip",
		NextRunAt: t0.Add(time.Minute), CreatedAt: t0, UpdatedAt: t0,
	}
}

func TestScheduleCRUD(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t, persistence.Options{})
	a, b, c := newSchedule("acme", "sched_a"), newSchedule("acme", "sched_b"), newSchedule("globex", "sched_a")
	for _, sc := range []persistence.Schedule{a, b, c} {
		if err := s.CreateSchedule(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSchedule(ctx, a); !errors.Is(err, persistence.ErrExists) {
		t.Fatalf("second create of %s: %v", a.ID, err)
	}
	if err := s.CreateSchedule(ctx, persistence.Schedule{ID: "x", Workflow: "echo"}); !errors.Is(err, persistence.ErrInvalid) {
		t.Fatalf("create without workspace: %v", err)
	}

	// Workspaces do not see each other's schedules, even with one id.
	got, err := s.Schedule(ctx, "acme", "sched_a")
	if err != nil || got.Workspace != "acme" || string(got.Parameters) != `{"n":1}` || !got.NextRunAt.Equal(a.NextRunAt) {
		t.Fatalf("Schedule = %+v, %v", got, err)
	}
	if _, err := s.Schedule(ctx, "initech", "sched_a"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("other workspace's id: %v", err)
	}
	list, err := s.Schedules(ctx, "acme")
	if err != nil || len(list) != 2 || list[0].ID != "sched_a" || list[1].ID != "sched_b" {
		t.Fatalf("Schedules(acme) = %+v, %v", list, err)
	}
	// A workspace that is a prefix of another does not match it.
	if list, _ := s.Schedules(ctx, "acm"); len(list) != 0 {
		t.Fatalf("Schedules(acm) = %+v", list)
	}
	if all, _ := s.Schedules(ctx, ""); len(all) != 3 {
		t.Fatalf("Schedules(all) = %+v", all)
	}

	// Updates see the stored record; an error writes nothing; the
	// identity fields cannot change.
	next := t0.Add(2 * time.Minute)
	upd, err := s.UpdateSchedule(ctx, "acme", "sched_a", func(sc *persistence.Schedule) error {
		sc.NextRunAt, sc.Firings, sc.LastExecutionID = next, sc.Firings+1, "exec_1"
		sc.Workspace, sc.ID = "evil", "other"
		return nil
	})
	if err != nil || upd.Workspace != "acme" || upd.ID != "sched_a" || upd.Firings != 1 {
		t.Fatalf("UpdateSchedule = %+v, %v", upd, err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateSchedule(ctx, "acme", "sched_a", func(sc *persistence.Schedule) error {
		sc.Paused = true
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing update: %v", err)
	}
	if _, err := s.UpdateSchedule(ctx, "globex", "sched_b", func(*persistence.Schedule) error { return nil }); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("update of another workspace's id: %v", err)
	}

	if err := s.DeleteSchedule(ctx, "acme", "sched_b"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSchedule(ctx, "acme", "sched_b"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}

	// Everything is durable across a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := persistence.Open(path, persistence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err = s2.Schedule(ctx, "acme", "sched_a")
	if err != nil || got.Paused || got.Firings != 1 || !got.NextRunAt.Equal(next) || got.LastExecutionID != "exec_1" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if list, _ := s2.Schedules(ctx, "acme"); len(list) != 1 {
		t.Fatalf("after reopen, acme has %+v", list)
	}
}

// Concurrent updates of one schedule are applied one after the other: none
// is lost (each sees the previous one's result).
func TestScheduleUpdatesSerialise(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{})
	if err := s.CreateSchedule(ctx, newSchedule("acme", "sched_c")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := s.UpdateSchedule(ctx, "acme", "sched_c", func(sc *persistence.Schedule) error {
				sc.Firings++
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, _ := s.Schedule(ctx, "acme", "sched_c"); got.Firings != 50 {
		t.Fatalf("firings = %d after 50 concurrent increments", got.Firings)
	}
}

func TestExecutionByIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{})
	exec := newExec("acme", "echo", "exec_idem", t0)
	exec.IdempotencyKey = "schedule:sched_a:1700000000"
	first := events.Event{Type: events.ExecutionStarted, Data: events.Data{Timestamp: t0, ExecutionID: exec.ID, Workflow: "echo", Seq: 1}}
	if _, err := s.CreateExecution(ctx, exec, first); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := s.ExecutionByIdempotencyKey(ctx, "acme", "echo", exec.IdempotencyKey); err != nil || !ok || id != exec.ID {
		t.Fatalf("lookup = %q, %v, %v", id, ok, err)
	}
	for _, k := range [][3]string{{"globex", "echo", exec.IdempotencyKey}, {"acme", "nap", exec.IdempotencyKey}, {"acme", "echo", "other"}} {
		if id, ok, err := s.ExecutionByIdempotencyKey(ctx, k[0], k[1], k[2]); err != nil || ok || id != "" {
			t.Fatalf("lookup %v = %q, %v, %v", k, id, ok, err)
		}
	}
}
