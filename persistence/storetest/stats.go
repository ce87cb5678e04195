package storetest

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// StatsStore answers workflow.stats from what executions of Store ended.
type StatsStore interface {
	Store
	WorkflowStats(ctx context.Context, workspace, workflow string, period persistence.Period, now time.Time) (persistence.WorkflowStats, error)
}

// RetentionStore removes executions that ended long enough ago.
type RetentionStore interface {
	Store
	DeleteExpired(ctx context.Context, now time.Time, retention persistence.RetentionFunc, limit int) (deleted int, more bool, err error)
}

var (
	_ StatsStore     = (*persistence.Store)(nil)
	_ RetentionStore = (*persistence.Store)(nil)
)

// RunStats runs the stats cases, each on a fresh store from open.
func RunStats(t *testing.T, open func(t *testing.T) StatsStore) {
	runCases(t, open, []caseOf[StatsStore]{
		{"CountsAndDurations", testStatsCounts},
		{"Window", testStatsWindow},
	})
}

// RunRetention runs the retention cases, each on a fresh store from open.
func RunRetention(t *testing.T, open func(t *testing.T) RetentionStore) {
	runCases(t, open, []caseOf[RetentionStore]{
		{"PerWorkflow", testRetentionPerWorkflow},
	})
}

// endAt creates execution id of ws and wf at created and ends it with st
// at ended.
func endAt(t *testing.T, s Store, ws, wf, id string, st weft.Status, created, ended time.Time) {
	t.Helper()
	mustCreate(t, s, newExec(ws, wf, id, created))
	mustCommit(t, s, persistence.Write{ExecutionID: id, Status: &persistence.StatusUpdate{Status: st, At: ended}})
}

func testStatsCounts(t *testing.T, s StatsStore) {
	for i, d := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		endAt(t, s, "ws", "wf", "exec_c"+string(rune('0'+i)), weft.StatusCompleted, t0, t0.Add(d))
	}
	endAt(t, s, "ws", "wf", "exec_f", weft.StatusFailed, t0, t0.Add(4*time.Second))
	endAt(t, s, "ws", "wf", "exec_x", weft.StatusCancelled, t0, t0.Add(10*time.Second))
	endAt(t, s, "ws", "wf-other", "exec_o", weft.StatusFailed, t0, t0.Add(time.Second))
	endAt(t, s, "ws-other", "wf", "exec_w", weft.StatusFailed, t0, t0.Add(time.Second))
	mustCreate(t, s, newExec("ws", "wf", "exec_live", t0)) // not ended: not counted

	st, err := s.WorkflowStats(t.Context(), "ws", "wf", persistence.PeriodHour, t0.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if st.Runs != 5 || st.Completed != 3 || st.Failed != 1 || st.Cancelled != 1 || !st.Known || st.Workflow != "wf" {
		t.Fatalf("stats = %+v, want 5 runs: 3 completed, 1 failed, 1 cancelled", st)
	}
	if st.AvgDurationMS != 4000 || math.Abs(st.P95DurationMS-10000) > 500 || st.SuccessRate != 0.6 || st.ErrorsPerDay != 24 {
		t.Fatalf("stats = %+v, want avg 4000ms, p95 about 10000ms, success 0.6, 24 errors a day", st)
	}
	if _, err := s.WorkflowStats(t.Context(), "ws", "", persistence.PeriodDay, t0); !errors.Is(err, persistence.ErrInvalid) {
		t.Fatalf("stats without a workflow = %v, want ErrInvalid", err)
	}
}

func testStatsWindow(t *testing.T, s StatsStore) {
	endAt(t, s, "ws", "wf", "exec_1", weft.StatusCompleted, t0, t0.Add(10*time.Minute))
	endAt(t, s, "ws", "wf", "exec_2", weft.StatusFailed, t0, t0.Add(2*time.Hour+5*time.Minute))
	now := t0.Add(2*time.Hour + 30*time.Minute)
	for _, tc := range []struct {
		period persistence.Period
		runs   uint64
	}{{persistence.PeriodHour, 1}, {persistence.PeriodDay, 2}, {persistence.PeriodWeek, 2}} {
		st, err := s.WorkflowStats(t.Context(), "ws", "wf", tc.period, now)
		if err != nil {
			t.Fatal(err)
		}
		if st.Runs != tc.runs || !st.Known || st.Period != tc.period || !st.To.Equal(now) {
			t.Fatalf("%s: %+v, want %d runs", tc.period, st, tc.runs)
		}
	}
	// A week later nothing is in the window; the workflow is unknown
	// elsewhere.
	st, err := s.WorkflowStats(t.Context(), "ws", "wf", persistence.PeriodHour, now.Add(3*time.Hour))
	if err != nil || st.Runs != 0 || st.SuccessRate != 1 || st.Health != persistence.HealthOK {
		t.Fatalf("an empty hour = %+v, %v", st, err)
	}
	if st, _ := s.WorkflowStats(t.Context(), "ws", "wf-none", persistence.PeriodDay, now); st.Known || st.Runs != 0 {
		t.Fatalf("a workflow without ends = %+v", st)
	}
}

func testRetentionPerWorkflow(t *testing.T, s RetentionStore) {
	ctx := t.Context()
	endAt(t, s, "ws", "short", "exec_s1", weft.StatusCompleted, t0, t0.Add(time.Minute))
	endAt(t, s, "ws", "short", "exec_s2", weft.StatusFailed, t0, t0.Add(2*time.Minute))
	endAt(t, s, "ws", "short", "exec_s3", weft.StatusCompleted, t0, t0.Add(50*time.Hour)) // too young
	endAt(t, s, "ws", "forever", "exec_f1", weft.StatusCompleted, t0, t0.Add(time.Minute))
	mustCreate(t, s, newExec("ws", "short", "exec_live", t0))
	keep := func(wf string) time.Duration {
		if wf == "short" {
			return 24 * time.Hour
		}
		return 0
	}
	now := t0.Add(60 * time.Hour)
	n, more, err := s.DeleteExpired(ctx, now, keep, 1)
	if err != nil || n != 1 || !more {
		t.Fatalf("first sweep by 1 = %d, %v, %v; want 1, more", n, more, err)
	}
	total := n
	for more {
		if n, more, err = s.DeleteExpired(ctx, now, keep, 1); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != 2 {
		t.Fatalf("removed %d executions, want exec_s1 and exec_s2", total)
	}
	for id, gone := range map[string]bool{"exec_s1": true, "exec_s2": true, "exec_s3": false, "exec_f1": false, "exec_live": false} {
		_, err := s.Execution(ctx, id)
		if gone != errors.Is(err, persistence.ErrNotFound) {
			t.Errorf("%s: %v, want gone %v", id, err, gone)
		}
	}
	// Later, the third one goes too; a deleted execution's entry is dropped.
	if _, err := s.DeleteExecution(ctx, "ws", "exec_f1"); err != nil {
		t.Fatal(err)
	}
	n, more, err = s.DeleteExpired(ctx, t0.Add(100*time.Hour), keep, 0)
	if err != nil || n != 1 || more {
		t.Fatalf("a later sweep = %d, %v, %v; want exec_s3", n, more, err)
	}
}
