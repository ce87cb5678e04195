package jsstore_test

import (
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/persistence/jsstore"
	"github.com/weft-run/weft/persistence/storetest"
)

func TestStatsConformance(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).URL())
	storetest.RunStats(t, func(t *testing.T) storetest.StatsStore { return openStore(t, nc, jsstore.Options{}) })
}

func TestRetentionConformance(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).URL())
	storetest.RunRetention(t, func(t *testing.T) storetest.RetentionStore { return openStore(t, nc, jsstore.Options{}) })
}

// An end recorded again (a re-applied write, the next owner, another
// node) is counted once.
func TestRecordEndCountsOnce(t *testing.T) {
	a, b := twoNodes(t, natstest.Server(t).URL())
	create(t, a, "exec_1")
	commit(t, a, persistence.Write{ExecutionID: "exec_1", Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, At: t0.Add(time.Second)}})
	e, err := a.Execution(t.Context(), "exec_1")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for _, s := range []*jsstore.Store{a, b, a, b} {
		go func() { errs <- s.RecordEnd(t.Context(), e) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st, err := b.WorkflowStats(t.Context(), "ws", "wf", persistence.PeriodHour, t0.Add(time.Minute))
	if err != nil || st.Runs != 1 || st.AvgDurationMS != 1000 {
		t.Fatalf("stats after four records of one end = %+v, %v; want 1 run of 1000ms", st, err)
	}
	// Not ended: nothing recorded.
	create(t, a, "exec_2")
	live, _ := a.Execution(t.Context(), "exec_2")
	if err := a.RecordEnd(t.Context(), live); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.WorkflowStats(t.Context(), "ws", "wf", persistence.PeriodHour, t0.Add(time.Minute)); st.Runs != 1 {
		t.Fatalf("a live execution was counted: %+v", st)
	}
}

// The rest of the store on a 3-server cluster, R3: schedules, audit,
// stats and retention.
func TestRestR3(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster")
	}
	nodes := natstest.Cluster(t, 3)
	nc := natstest.Connect(t, natstest.URLs(nodes))
	open := func(t *testing.T) *jsstore.Store { return openStore(t, nc, jsstore.Options{Replicas: 3}) }
	t.Run("Schedules", func(t *testing.T) {
		storetest.RunSchedules(t, func(t *testing.T) storetest.ScheduleStore { return open(t) })
	})
	t.Run("Audit", func(t *testing.T) {
		storetest.RunAudit(t, func(t *testing.T) storetest.AuditStore { return open(t) })
	})
	t.Run("Stats", func(t *testing.T) {
		storetest.RunStats(t, func(t *testing.T) storetest.StatsStore { return open(t) })
	})
	t.Run("Retention", func(t *testing.T) {
		storetest.RunRetention(t, func(t *testing.T) storetest.RetentionStore { return open(t) })
	})
}
