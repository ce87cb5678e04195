package jsstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/persistence/jsstore"
	"github.com/weft-run/weft/persistence/storetest"
)

var _ storetest.ScheduleStore = (*jsstore.Store)(nil)

func TestSchedulesConformance(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).URL())
	storetest.RunSchedules(t, func(t *testing.T) storetest.ScheduleStore { return openStore(t, nc, jsstore.Options{}) })
}

func schedule(ws, id string, next time.Time) persistence.Schedule {
	return persistence.Schedule{ID: id, Workspace: ws, Workflow: "wf", Every: "1m", Overlap: "allow", CatchUp: "skip",
		NextRunAt: next, CreatedAt: t0, UpdatedAt: t0}
}

// Two nodes, on two servers of an R3 cluster, fire the same due times of
// one schedule at once, as their schedulers would: each starts the
// firing's execution under the idempotency key schedule:<id>:<unix> and
// then advances the schedule past the due time if it is still due.
// Exactly one execution starts and the schedule advances once per due
// time.
func TestScheduleFiresOnceAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster")
	}
	a, b := twoNodesR3(t)
	due := t0.Add(time.Minute)
	if err := a.CreateSchedule(t.Context(), schedule("ws", "sched_1", due)); err != nil {
		t.Fatal(err)
	}
	const firings = 5
	started := map[string]bool{}
	for i := range firings {
		key := fmt.Sprintf("schedule:sched_1:%d", due.Unix())
		var wg sync.WaitGroup
		ids := make([]string, 2)
		won := make([]bool, 2)
		errs := make([]error, 2)
		for n, s := range []*jsstore.Store{a, b} {
			wg.Go(func() { ids[n], won[n], errs[n] = fire(t, s, fmt.Sprintf("exec_%d_%d", i, n), key, due) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if ids[0] != ids[1] {
			t.Fatalf("due time %d started %s on one node and %s on the other", i, ids[0], ids[1])
		}
		if won[0] == won[1] {
			t.Fatalf("due time %d: advances %v, want exactly one", i, won)
		}
		started[ids[0]] = true
		due = due.Add(time.Minute)
	}
	got, err := b.Schedule(t.Context(), "ws", "sched_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != firings || got.Firings != firings || !got.NextRunAt.Equal(due) {
		t.Fatalf("%d executions, schedule %+v; want %d firings, next at %v", len(started), got, firings, due)
	}
}

// fire is one node's scheduler handling the due time due: start the
// firing's execution (or find the one another node started), then advance
// the schedule if it is still due. It returns the execution's id and
// whether this node advanced the schedule.
func fire(t *testing.T, s *jsstore.Store, id, key string, due time.Time) (string, bool, error) {
	e := newExec(id)
	e.IdempotencyKey = key
	first := events.Event{Type: events.ExecutionStarted, Data: events.Data{Timestamp: due, ExecutionID: id, Workflow: "wf", Seq: 1}}
	existing, err := s.CreateExecution(t.Context(), e, first)
	if err != nil {
		return "", false, err
	}
	if existing != nil {
		id = existing.ID
	}
	won, err := storetest.FireDue(t.Context(), s, "ws", "sched_1", due, time.Minute)
	return id, won, err
}

// The per-workspace limit holds across nodes: of creates racing for the
// last places, exactly as many as there are places are kept.
func TestScheduleLimit(t *testing.T) {
	jsstore.SetScheduleLimit(t, 3)
	a, b := twoNodes(t, natstest.Server(t).URL())
	if err := a.CreateSchedule(t.Context(), schedule("ws", "sched_0", t0)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		s := []*jsstore.Store{a, b}[i%2]
		wg.Go(func() { errs[i] = s.CreateSchedule(t.Context(), schedule("ws", fmt.Sprintf("sched_%d", i+1), t0)) })
	}
	wg.Wait()
	refused := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, persistence.ErrLimit):
			refused++
		case err != nil:
			t.Fatal(err)
		}
	}
	all, err := b.Schedules(t.Context(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || refused != 6 {
		t.Fatalf("%d schedules kept, %d creates refused; want 3 and 6", len(all), refused)
	}
	// Another workspace has its own places; a delete frees one.
	if err := a.CreateSchedule(t.Context(), schedule("ws-b", "sched_1", t0)); err != nil {
		t.Fatalf("another workspace: %v", err)
	}
	if err := a.DeleteSchedule(t.Context(), "ws", all[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateSchedule(t.Context(), schedule("ws", "sched_new", t0)); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}
