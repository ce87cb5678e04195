package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

func TestHealthOf(t *testing.T) {
	for _, tc := range []struct {
		errorsPerDay, successRate float64
		want                      string
	}{
		{0, 1, persistence.HealthOK},
		{0, 0.95, persistence.HealthOK},
		{0, 0.9499, persistence.HealthWarning},
		{0.0001, 1, persistence.HealthWarning},
		{1.0 / 7, 0.99, persistence.HealthWarning},
		{5, 1, persistence.HealthWarning},
		{5.0001, 1, persistence.HealthError},
		{0, 0.8, persistence.HealthWarning},
		{0, 0.7999, persistence.HealthError},
		{24, 0.99, persistence.HealthError},
		{0, 0, persistence.HealthError},
	} {
		t.Run(fmt.Sprintf("errors=%v,success=%v", tc.errorsPerDay, tc.successRate), func(t *testing.T) {
			if got := persistence.HealthOf(tc.errorsPerDay, tc.successRate); got != tc.want {
				t.Errorf("HealthOf(%v, %v) = %q, want %q", tc.errorsPerDay, tc.successRate, got, tc.want)
			}
		})
	}
}

func TestParsePeriod(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want persistence.Period
		d    time.Duration
		bad  bool
	}{
		{in: "", want: persistence.PeriodDay, d: 24 * time.Hour},
		{in: "hour", want: persistence.PeriodHour, d: time.Hour},
		{in: "day", want: persistence.PeriodDay, d: 24 * time.Hour},
		{in: "week", want: persistence.PeriodWeek, d: 7 * 24 * time.Hour},
		{in: "Day", bad: true},
		{in: " day", bad: true},
		{in: "month", bad: true},
		{in: "1h", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := persistence.ParsePeriod(tc.in)
			if tc.bad {
				if !errors.Is(err, persistence.ErrInvalid) {
					t.Errorf("ParsePeriod(%q) = %q, %v; want ErrInvalid", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want || got.Duration() != tc.d {
				t.Errorf("ParsePeriod(%q) = %q (%v), %v; want %q (%v)", tc.in, got, got.Duration(), err, tc.want, tc.d)
			}
		})
	}
}

// endAt creates an execution of ws/wf at created and ends it with st at
// at, through the status change of a Commit (the runtime's path).
func endAt(t testing.TB, s *persistence.Store, ws, wf, id string, st weft.Status, created, at time.Time) {
	t.Helper()
	create(t, s, newExec(ws, wf, id, created))
	end(t, s, id, 2, st, at)
}

func stats(t testing.TB, s *persistence.Store, ws, wf string, p persistence.Period, now time.Time) persistence.WorkflowStats {
	t.Helper()
	st, err := s.WorkflowStats(context.Background(), ws, wf, p, now)
	if err != nil {
		t.Fatalf("WorkflowStats(%s, %s, %s): %v", ws, wf, p, err)
	}
	return st
}

type counts struct{ runs, completed, failed, cancelled uint64 }

func countsOf(st persistence.WorkflowStats) counts {
	return counts{st.Runs, st.Completed, st.Failed, st.Cancelled}
}

// Each period counts the executions that ended within it, at minute
// resolution: the window is the minute of now and the minutes before it.
func TestWorkflowStatsPeriods(t *testing.T) {
	s, _ := openStore(t, persistence.Options{NoSync: true})
	now := time.Date(2025, 3, 10, 12, 30, 20, 0, time.UTC)
	n := 0
	finish := func(st weft.Status, ago, took time.Duration) {
		n++
		at := now.Add(-ago)
		endAt(t, s, "ws1", "wf", fmt.Sprintf("e%03d", n), st, at.Add(-took), at)
	}
	// Within the hour: 3 completed, 1 failed, 1 cancelled.
	finish(weft.StatusCompleted, 0, time.Second)
	finish(weft.StatusCompleted, 10*time.Minute, 2*time.Second)
	finish(weft.StatusCompleted, 59*time.Minute+20*time.Second, 3*time.Second) // 11:31:00, the hour's first minute
	finish(weft.StatusFailed, 30*time.Minute, 4*time.Second)
	finish(weft.StatusCancelled, 5*time.Minute, 5*time.Second)
	// 11:30:59: the minute before the hour's window.
	finish(weft.StatusFailed, 59*time.Minute+21*time.Second, time.Second)
	// Within the day, not the hour: 2 completed, 1 failed.
	finish(weft.StatusCompleted, 3*time.Hour, time.Second)
	finish(weft.StatusCompleted, 23*time.Hour+59*time.Minute, time.Second)
	finish(weft.StatusFailed, 20*time.Hour, time.Second)
	// Just before the day: 12:29:59 the day before.
	finish(weft.StatusCompleted, 24*time.Hour+21*time.Second, time.Second)
	// Within the week: 1 failed 3 days ago, 1 completed at its first minute.
	finish(weft.StatusFailed, 3*24*time.Hour, time.Second)
	finish(weft.StatusCompleted, 7*24*time.Hour-40*time.Second, time.Second)
	// Outside the week.
	finish(weft.StatusFailed, 7*24*time.Hour+time.Minute, time.Second)

	for _, tc := range []struct {
		p            persistence.Period
		want         counts
		errorsPerDay float64
		health       string
	}{
		{persistence.PeriodHour, counts{5, 3, 1, 1}, 24, persistence.HealthError},
		{persistence.PeriodDay, counts{9, 5, 3, 1}, 3, persistence.HealthError},
		{persistence.PeriodWeek, counts{12, 7, 4, 1}, 4.0 / 7, persistence.HealthError},
	} {
		t.Run(string(tc.p), func(t *testing.T) {
			st := stats(t, s, "ws1", "wf", tc.p, now)
			if got := countsOf(st); got != tc.want {
				t.Errorf("counts = %+v, want %+v", got, tc.want)
			}
			if want := float64(tc.want.completed) / float64(tc.want.runs); st.SuccessRate != want {
				t.Errorf("success_rate = %v, want %v", st.SuccessRate, want)
			}
			if math.Abs(st.ErrorsPerDay-tc.errorsPerDay) > 1e-9 {
				t.Errorf("errors_per_day = %v, want %v", st.ErrorsPerDay, tc.errorsPerDay)
			}
			if st.Health != tc.health || st.Workflow != "wf" || st.Period != tc.p || !st.Known {
				t.Errorf("health %q workflow %q period %q known %v; want %q wf %q true", st.Health, st.Workflow, st.Period, st.Known, tc.health, tc.p)
			}
			if !st.To.Equal(now) || !st.From.Equal(now.Truncate(time.Minute).Add(time.Minute-tc.p.Duration())) {
				t.Errorf("window %v - %v", st.From, st.To)
			}
		})
	}
	hour := stats(t, s, "ws1", "wf", persistence.PeriodHour, now)
	if hour.AvgDurationMS != 3000 {
		t.Errorf("hour avg_duration_ms = %v, want 3000 (1+2+3+4+5 s / 5)", hour.AvgDurationMS)
	}
	if math.Abs(hour.P95DurationMS-5000) > 5000*0.05 {
		t.Errorf("hour p95_duration_ms = %v, want 5000 ±5%%", hour.P95DurationMS)
	}
}

// The p95 of 1..200 seconds is 190 s, to within the sketch's 5%.
func TestWorkflowStatsP95(t *testing.T) {
	s, _ := openStore(t, persistence.Options{NoSync: true})
	now := t0.Add(time.Hour)
	for i := 1; i <= 200; i++ {
		endAt(t, s, "ws1", "slow", fmt.Sprintf("e%03d", i), weft.StatusCompleted, now.Add(-time.Duration(i)*time.Second), now)
	}
	st := stats(t, s, "ws1", "slow", persistence.PeriodHour, now)
	if st.Runs != 200 || st.SuccessRate != 1 || st.Health != persistence.HealthOK || st.ErrorsPerDay != 0 {
		t.Errorf("runs %d success %v health %q errors %v; want 200, 1, ok, 0", st.Runs, st.SuccessRate, st.Health, st.ErrorsPerDay)
	}
	if st.AvgDurationMS != 100500 {
		t.Errorf("avg_duration_ms = %v, want 100500", st.AvgDurationMS)
	}
	if math.Abs(st.P95DurationMS-190000) > 190000*0.05 {
		t.Errorf("p95_duration_ms = %v, want 190000 ±5%%", st.P95DurationMS)
	}
}

// A workspace sees its own executions only; a workflow with nothing ended
// is all zeros, success 1, health ok and not Known.
func TestWorkflowStatsWorkspaces(t *testing.T) {
	s, _ := openStore(t, persistence.Options{NoSync: true})
	now := t0
	endAt(t, s, "ws1", "wf", "a1", weft.StatusFailed, now.Add(-time.Minute), now)
	endAt(t, s, "ws2", "wf", "b1", weft.StatusCompleted, now.Add(-time.Minute), now)
	endAt(t, s, "ws2", "wf", "b2", weft.StatusCompleted, now.Add(-time.Minute), now)
	endAt(t, s, "ws1", "wf2", "a2", weft.StatusCompleted, now.Add(-time.Minute), now)

	if got := countsOf(stats(t, s, "ws1", "wf", persistence.PeriodDay, now)); got != (counts{1, 0, 1, 0}) {
		t.Errorf("ws1/wf = %+v, want one failure", got)
	}
	if got := countsOf(stats(t, s, "ws2", "wf", persistence.PeriodDay, now)); got != (counts{2, 2, 0, 0}) {
		t.Errorf("ws2/wf = %+v, want two completions", got)
	}
	none := stats(t, s, "ws3", "wf", persistence.PeriodDay, now)
	if countsOf(none) != (counts{}) || none.SuccessRate != 1 || none.Health != persistence.HealthOK || none.Known ||
		none.AvgDurationMS != 0 || none.P95DurationMS != 0 {
		t.Errorf("ws3/wf = %+v, want nothing, success 1, ok, not known", none)
	}
	if _, err := s.WorkflowStats(context.Background(), "", "wf", persistence.PeriodDay, now); !errors.Is(err, persistence.ErrInvalid) {
		t.Errorf("no workspace: %v, want ErrInvalid", err)
	}
}

// Stats are a record of what ended: deleting the execution keeps its count;
// a later status write of an ended execution does not count it again.
func TestWorkflowStatsKeepDeleted(t *testing.T) {
	s, _ := openStore(t, persistence.Options{NoSync: true})
	ctx := context.Background()
	endAt(t, s, "ws1", "wf", "e1", weft.StatusCompleted, t0.Add(-time.Second), t0)
	endAt(t, s, "ws1", "wf", "e2", weft.StatusFailed, t0.Add(-time.Second), t0)
	end(t, s, "e2", 3, weft.StatusFailed, t0)
	if _, err := s.DeleteExecution(ctx, "ws1", "e1"); err != nil {
		t.Fatal(err)
	}
	n, more, err := s.DeleteExpired(ctx, t0.Add(time.Hour), func(string) time.Duration { return time.Minute }, 10)
	if err != nil || n != 1 || more {
		t.Fatalf("DeleteExpired = %d, %v, %v; want 1 removed", n, more, err)
	}
	if got := countsOf(stats(t, s, "ws1", "wf", persistence.PeriodDay, t0)); got != (counts{2, 1, 1, 0}) {
		t.Errorf("after deleting both: %+v, want 2 runs still", got)
	}
}

// A record created (or imported) already ended is counted, at its end time.
func TestWorkflowStatsCreatedEnded(t *testing.T) {
	s, _ := openStore(t, persistence.Options{NoSync: true})
	e := newExec("ws1", "wf", "done", t0.Add(-2*time.Second))
	e.Status, e.UpdatedAt = weft.StatusCancelled, t0
	create(t, s, e)
	st := stats(t, s, "ws1", "wf", persistence.PeriodHour, t0)
	if countsOf(st) != (counts{1, 0, 0, 1}) || st.AvgDurationMS != 2000 {
		t.Errorf("stats = %+v, want one cancelled of 2 s", st)
	}

	rec, err := s.Export(context.Background(), "done")
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := openStore(t, persistence.Options{NoSync: true})
	if err := dst.Import(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if got := countsOf(stats(t, dst, "ws1", "wf", persistence.PeriodHour, t0)); got != (counts{1, 0, 0, 1}) {
		t.Errorf("imported: %+v, want one cancelled", got)
	}
	if err := dst.Import(context.Background(), rec); !errors.Is(err, persistence.ErrExists) {
		t.Fatalf("second import: %v, want ErrExists", err)
	}
	if got := countsOf(stats(t, dst, "ws1", "wf", persistence.PeriodHour, t0)); got != (counts{1, 0, 0, 1}) {
		t.Errorf("imported twice: %+v, want it counted once", got)
	}
}

// A store from before the rollup gets it at Open: the executions that
// ended within the kept 8 days are counted, older and unfinished ones not.
func TestWorkflowStatsBackfill(t *testing.T) {
	s, path := openStore(t, persistence.Options{NoSync: true})
	now := time.Now().UTC()
	endAt(t, s, "ws1", "wf", "recent", weft.StatusCompleted, now.Add(-time.Hour), now.Add(-time.Minute))
	endAt(t, s, "ws1", "wf", "failed", weft.StatusFailed, now.Add(-2*time.Hour), now.Add(-time.Hour))
	endAt(t, s, "ws1", "wf", "old", weft.StatusCompleted, now.Add(-10*24*time.Hour), now.Add(-9*24*time.Hour))
	create(t, s, newExec("ws1", "wf", "running", now))
	want := stats(t, s, "ws1", "wf", persistence.PeriodDay, now)
	if err := persistence.DropStats(s); err != nil {
		t.Fatal(err)
	}
	if got := stats(t, s, "ws1", "wf", persistence.PeriodDay, now); got.Runs != 0 {
		t.Fatalf("without the bucket: %d runs", got.Runs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := persistence.Open(path, persistence.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got := stats(t, s2, "ws1", "wf", persistence.PeriodDay, now)
	if countsOf(got) != (counts{2, 1, 1, 0}) || got != want {
		t.Errorf("backfilled %+v\nwant %+v", got, want)
	}
	if wk := stats(t, s2, "ws1", "wf", persistence.PeriodWeek, now); wk.Runs != 2 {
		t.Errorf("week: %d runs, want 2 (the 9-day-old one is past the kept 8 days)", wk.Runs)
	}
}

// An end that opens a new minute or hour removes the workflow's values
// older than 8 days before it, so the rollup does not grow for ever.
func TestWorkflowStatsPrune(t *testing.T) {
	s, _ := openStore(t, persistence.Options{NoSync: true})
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Hour)
		endAt(t, s, "ws1", "wf", fmt.Sprintf("old%d", i), weft.StatusCompleted, at, at)
	}
	endAt(t, s, "ws1", "other", "keep", weft.StatusCompleted, t0, t0)
	keys, err := persistence.StatsKeys(s)
	if err != nil || keys != 8 {
		t.Fatalf("%d stats values (%v), want 8: a minute and an hour per end", keys, err)
	}
	later := t0.Add(8*24*time.Hour + 90*time.Minute) // 8 days after the second end, and a half hour
	endAt(t, s, "ws1", "wf", "new", weft.StatusCompleted, later, later)
	if got := stats(t, s, "ws1", "wf", persistence.PeriodDay, t0.Add(3*time.Hour)); got.Runs != 1 {
		t.Errorf("the old day holds %d runs after the prune, want 1 (the end 8 days before)", got.Runs)
	}
	if got := stats(t, s, "ws1", "other", persistence.PeriodDay, t0); got.Runs != 1 {
		t.Errorf("another workflow lost its stats: %d runs", got.Runs)
	}
	if keys, _ := persistence.StatsKeys(s); keys != 6 {
		t.Errorf("%d stats values after the prune, want 6", keys)
	}
}
