package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/persistence"
)

// ScheduleStore keeps the schedules, with the bbolt store's signatures.
type ScheduleStore interface {
	CreateSchedule(ctx context.Context, sc persistence.Schedule) error
	Schedule(ctx context.Context, ws, id string) (persistence.Schedule, error)
	Schedules(ctx context.Context, ws string) ([]persistence.Schedule, error)
	UpdateSchedule(ctx context.Context, ws, id string, fn func(*persistence.Schedule) error) (persistence.Schedule, error)
	DeleteSchedule(ctx context.Context, ws, id string) error
}

var _ ScheduleStore = (*persistence.Store)(nil)

// RunSchedules runs the schedule cases, each on a fresh store from open.
func RunSchedules(t *testing.T, open func(t *testing.T) ScheduleStore) {
	runCases(t, open, []caseOf[ScheduleStore]{
		{"CreateReadBack", testScheduleReadBack},
		{"Refused", testScheduleRefused},
		{"ListPerWorkspace", testScheduleList},
		{"Update", testScheduleUpdate},
		{"ConcurrentUpdatesLoseNothing", testScheduleConcurrentUpdates},
		{"DueTimeFiresOnce", testScheduleFiresOnce},
		{"Delete", testScheduleDelete},
	})
}

// caseOf is a case of a group that needs more than Store.
type caseOf[S any] struct {
	name string
	fn   func(t *testing.T, s S)
}

func runCases[S any](t *testing.T, open func(t *testing.T) S, cases []caseOf[S]) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func newSchedule(ws, id string) persistence.Schedule {
	return persistence.Schedule{
		ID: id, Workspace: ws, Workflow: "wf",
		Parameters: json.RawMessage(`{"n":1}`),
		Every:      "1m", Overlap: "skip", CatchUp: "skip",
		NextRunAt: t0.Add(time.Minute),
		CreatedBy: "key:test", CreatedAt: t0, UpdatedAt: t0,
	}
}

func mustSchedule(t *testing.T, s ScheduleStore, ws, id string) persistence.Schedule {
	t.Helper()
	sc, err := s.Schedule(t.Context(), ws, id)
	if err != nil {
		t.Fatalf("Schedule(%s, %s): %v", ws, id, err)
	}
	return sc
}

func sameSchedule(t *testing.T, got, want persistence.Schedule) {
	t.Helper()
	g, w := got, want
	g.Parameters, w.Parameters = nil, nil
	g.NextRunAt, w.NextRunAt, g.LastRunAt, w.LastRunAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	g.CreatedAt, w.CreatedAt, g.UpdatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	switch {
	case !reflect.DeepEqual(g, w):
		t.Fatalf("schedule = %+v\nwant %+v", got, want)
	case !sameJSON(got.Parameters, want.Parameters):
		t.Fatalf("schedule parameters = %s, want %s", got.Parameters, want.Parameters)
	case !got.NextRunAt.Equal(want.NextRunAt), !got.LastRunAt.Equal(want.LastRunAt),
		!got.CreatedAt.Equal(want.CreatedAt), !got.UpdatedAt.Equal(want.UpdatedAt):
		t.Fatalf("schedule times = %+v\nwant %+v", got, want)
	}
}

func testScheduleReadBack(t *testing.T, s ScheduleStore) {
	sc := newSchedule("ws", "sched_1")
	sc.Cron, sc.TZ, sc.Every = "*/5 * * * *", "Europe/Paris", ""
	if err := s.CreateSchedule(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	sameSchedule(t, mustSchedule(t, s, "ws", "sched_1"), sc)
	if _, err := s.Schedule(t.Context(), "ws-other", "sched_1"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("another workspace's schedule = %v, want ErrNotFound", err)
	}
	if _, err := s.Schedule(t.Context(), "ws", "sched_nope"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("unknown schedule = %v, want ErrNotFound", err)
	}
	// Names that are not plain tokens are kept apart too.
	odd := newSchedule("team.a b", "sched.*>")
	if err := s.CreateSchedule(t.Context(), odd); err != nil {
		t.Fatal(err)
	}
	sameSchedule(t, mustSchedule(t, s, "team.a b", "sched.*>"), odd)
}

func testScheduleRefused(t *testing.T, s ScheduleStore) {
	if err := s.CreateSchedule(t.Context(), newSchedule("ws", "sched_1")); err != nil {
		t.Fatal(err)
	}
	again := newSchedule("ws", "sched_1")
	again.Workflow = "other"
	if err := s.CreateSchedule(t.Context(), again); !errors.Is(err, persistence.ErrExists) {
		t.Fatalf("second create of sched_1 = %v, want ErrExists", err)
	}
	if got := mustSchedule(t, s, "ws", "sched_1"); got.Workflow != "wf" {
		t.Fatalf("the refused create changed it: %+v", got)
	}
	for name, sc := range map[string]persistence.Schedule{
		"no id":        newSchedule("ws", ""),
		"no workspace": newSchedule("", "sched_2"),
		"no workflow":  func() persistence.Schedule { sc := newSchedule("ws", "sched_2"); sc.Workflow = ""; return sc }(),
	} {
		if err := s.CreateSchedule(t.Context(), sc); !errors.Is(err, persistence.ErrInvalid) {
			t.Errorf("create with %s = %v, want ErrInvalid", name, err)
		}
	}
}

func testScheduleList(t *testing.T, s ScheduleStore) {
	for _, k := range [][2]string{{"ws", "sched_2"}, {"ws-b", "sched_9"}, {"ws", "sched_1"}, {"ws", "sched_3"}} {
		if err := s.CreateSchedule(t.Context(), newSchedule(k[0], k[1])); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(scs []persistence.Schedule) []string {
		var out []string
		for _, sc := range scs {
			out = append(out, sc.Workspace+"/"+sc.ID)
		}
		return out
	}
	got, err := s.Schedules(t.Context(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ws/sched_1", "ws/sched_2", "ws/sched_3"}; !slices.Equal(ids(got), want) {
		t.Fatalf("Schedules(ws) = %v, want %v", ids(got), want)
	}
	all, err := s.Schedules(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ws/sched_1", "ws/sched_2", "ws/sched_3", "ws-b/sched_9"}; !slices.Equal(ids(all), want) {
		t.Fatalf("Schedules(\"\") = %v, want %v", ids(all), want)
	}
	none, err := s.Schedules(t.Context(), "ws-empty")
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("Schedules of an empty workspace = %#v, %v; want an empty slice", none, err)
	}
}

func testScheduleUpdate(t *testing.T, s ScheduleStore) {
	ctx := t.Context()
	sc := newSchedule("ws", "sched_1")
	if err := s.CreateSchedule(ctx, sc); err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateSchedule(ctx, "ws", "sched_1", func(r *persistence.Schedule) error {
		r.Paused, r.NextRunAt, r.Firings = true, time.Time{}, 7
		r.ID, r.Workspace, r.CreatedAt = "sched_x", "ws-x", t0.Add(time.Hour) // not changeable
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := sc
	want.Paused, want.NextRunAt, want.Firings = true, time.Time{}, 7
	sameSchedule(t, got, want)
	sameSchedule(t, mustSchedule(t, s, "ws", "sched_1"), want)

	boom := errors.New("boom")
	if _, err := s.UpdateSchedule(ctx, "ws", "sched_1", func(r *persistence.Schedule) error { r.Firings = 99; return boom }); !errors.Is(err, boom) {
		t.Fatalf("update whose fn fails = %v, want its error", err)
	}
	if got := mustSchedule(t, s, "ws", "sched_1"); got.Firings != 7 {
		t.Fatalf("a failed update was stored: %+v", got)
	}
	called := false
	if _, err := s.UpdateSchedule(ctx, "ws-other", "sched_1", func(*persistence.Schedule) error { called = true; return nil }); !errors.Is(err, persistence.ErrNotFound) || called {
		t.Fatalf("update of another workspace's schedule = %v (fn called: %v), want ErrNotFound", err, called)
	}
}

func testScheduleConcurrentUpdates(t *testing.T, s ScheduleStore) {
	if err := s.CreateSchedule(t.Context(), newSchedule("ws", "sched_1")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := s.UpdateSchedule(t.Context(), "ws", "sched_1", func(r *persistence.Schedule) error {
					r.Firings++
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := mustSchedule(t, s, "ws", "sched_1"); got.Firings != workers*each {
		t.Fatalf("firings = %d after %d increments: an update was lost", got.Firings, workers*each)
	}
}

// errFiredAlready is what a firing's fn returns when the due time it
// fired is no longer the schedule's next_run_at.
var errFiredAlready = errors.New("fired already")

// FireDue advances sc past the due time due, as a scheduler does once the
// firing's execution is stored: only if next_run_at is still due, so that
// of several schedulers firing the same due time one advances it. It
// reports whether this call did.
func FireDue(ctx context.Context, s ScheduleStore, ws, id string, due time.Time, every time.Duration) (bool, error) {
	_, err := s.UpdateSchedule(ctx, ws, id, func(r *persistence.Schedule) error {
		if !r.NextRunAt.Equal(due) {
			return errFiredAlready
		}
		r.LastRunAt, r.NextRunAt, r.Firings = due, due.Add(every), r.Firings+1
		return nil
	})
	if errors.Is(err, errFiredAlready) {
		return false, nil
	}
	return err == nil, err
}

func testScheduleFiresOnce(t *testing.T, s ScheduleStore) {
	sc := newSchedule("ws", "sched_1")
	if err := s.CreateSchedule(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	wins := FireConcurrently(t, []ScheduleStore{s, s, s, s}, "ws", "sched_1", sc.NextRunAt, time.Minute)
	if wins != 1 {
		t.Fatalf("%d firings of one due time advanced the schedule, want 1", wins)
	}
	got := mustSchedule(t, s, "ws", "sched_1")
	if got.Firings != 1 || !got.NextRunAt.Equal(sc.NextRunAt.Add(time.Minute)) || !got.LastRunAt.Equal(sc.NextRunAt) {
		t.Fatalf("after one due time: %+v", got)
	}
}

// FireConcurrently fires the due time due of one schedule from every
// store at once (several nodes' schedulers) and returns how many
// advanced it.
func FireConcurrently(t *testing.T, stores []ScheduleStore, ws, id string, due time.Time, every time.Duration) int {
	t.Helper()
	var wg sync.WaitGroup
	won := make([]bool, len(stores))
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Go(func() { won[i], errs[i] = FireDue(t.Context(), s, ws, id, due, every) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, w := range won {
		if w {
			n++
		}
	}
	return n
}

func testScheduleDelete(t *testing.T, s ScheduleStore) {
	ctx := t.Context()
	for _, id := range []string{"sched_1", "sched_2"} {
		if err := s.CreateSchedule(ctx, newSchedule("ws", id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSchedule(ctx, "ws-other", "sched_1"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("delete from another workspace = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSchedule(ctx, "ws", "sched_1"); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{}
	_, checks["Schedule"] = s.Schedule(ctx, "ws", "sched_1")
	checks["second delete"] = s.DeleteSchedule(ctx, "ws", "sched_1")
	_, checks["UpdateSchedule"] = s.UpdateSchedule(ctx, "ws", "sched_1", func(*persistence.Schedule) error { return nil })
	for name, err := range checks {
		if !errors.Is(err, persistence.ErrNotFound) {
			t.Errorf("%s after the delete = %v, want ErrNotFound", name, err)
		}
	}
	if all, _ := s.Schedules(ctx, "ws"); len(all) != 1 || all[0].ID != "sched_2" {
		t.Fatalf("Schedules after the delete = %+v, want sched_2", all)
	}
	// The id can be used again.
	if err := s.CreateSchedule(ctx, newSchedule("ws", "sched_1")); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
}
