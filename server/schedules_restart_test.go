package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// The state a kill -9 leaves between a firing's start and the store of the
// schedule's next_run_at, written straight into the store: the firing's
// execution is stored under its idempotency key, next_run_at still names
// that firing. At the next start the scheduler must count the firing as
// done, never start it again.
func seedFiredSchedule(t *testing.T, dir string, created time.Time, catchUp string) (schedID, execID string, fired time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := persistence.Open(filepath.Join(dir, "weft.db"), persistence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	schedID, fired = weft.NewID("sched_"), created.Add(time.Hour)
	sc := persistence.Schedule{
		ID: schedID, Workspace: "acme", Workflow: "echo", Parameters: json.RawMessage(`{}`),
		Every: "1h0m0s", Overlap: "allow", CatchUp: catchUp,
		NextRunAt: fired, CreatedAt: created, UpdatedAt: created,
	}
	if err := st.CreateSchedule(ctx, sc); err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(map[string]any{"schedule_id": schedID, "scheduled_for": fired})
	exec := persistence.Execution{
		ID: weft.NewID("exec_"), Workspace: "acme", Workflow: "echo", Status: weft.StatusCompleted,
		Parameters: json.RawMessage(`{}`), Metadata: meta, StartedBy: "schedule:" + schedID,
		IdempotencyKey: fmt.Sprintf("schedule:%s:%d", schedID, fired.Unix()),
		CreatedAt:      fired, UpdatedAt: fired,
	}
	first := events.Event{Type: events.ExecutionStarted, Data: events.Data{Timestamp: fired, ExecutionID: exec.ID, Workflow: "echo", Seq: 1,
		Details: json.RawMessage(`{"parameters":{},"metadata":{}}`)}}
	if _, err := st.CreateExecution(ctx, exec, first); err != nil {
		t.Fatal(err)
	}
	return schedID, exec.ID, fired
}

func TestScheduleFiringStartedBeforeCrashIsNotRunAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		ago      time.Duration // creation, before now
		catchUp  string
		wantRuns int // executions after the restart, the seeded one included
	}{
		// The firing 30 min ago ran; the next is in 30 min: nothing to do.
		{"next firing ahead", 90 * time.Minute, "run_once", 1},
		// It ran, and the next one (30 min ago) was missed: run_once runs it.
		{"one more missed, run_once", 150 * time.Minute, "run_once", 2},
		{"one more missed, skip", 150 * time.Minute, "skip", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			created := time.Now().UTC().Add(-tc.ago).Truncate(time.Second)
			id, execID, fired := seedFiredSchedule(t, dir, created, tc.catchUp)
			ts := startServer(t, dir)
			c := dial(t, ts, adminToken)
			var info schedInfo
			waitFor(t, 10*time.Second, "next_run_at moves on", func() bool {
				info = getSchedule(t, c, id)
				return info.NextRunAt != nil && info.NextRunAt.After(time.Now())
			})
			execs := scheduledExecutions(t, c, "echo", id)
			if len(execs) != tc.wantRuns || execs[0].ExecutionID != execID {
				t.Fatalf("executions %+v, want %d starting with the seeded %s", execs, tc.wantRuns, execID)
			}
			if tc.wantRuns == 2 && !execs[1].Metadata.ScheduledFor.Equal(fired.Add(time.Hour)) {
				t.Fatalf("catch-up run scheduled for %s, want %s", execs[1].Metadata.ScheduledFor, fired.Add(time.Hour))
			}
			if info.Firings != int64(tc.wantRuns) {
				t.Fatalf("firings %d, want %d", info.Firings, tc.wantRuns)
			}
			if want := created.Add(time.Duration(tc.ago/time.Hour+1) * time.Hour); !info.NextRunAt.Equal(want) {
				t.Fatalf("next_run_at %s, want %s", info.NextRunAt, want)
			}
		})
	}
}
