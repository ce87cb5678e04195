package persistence_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// statsBenchExecutions is the history the stats benchmark reads.
const statsBenchExecutions = 100_000

// BenchmarkWorkflowStats reads one workflow's stats from a store holding
// 100k ended executions of it, spread evenly over the last week (one
// every 6 s; 90% completed, 7% failed, 3% cancelled; 1-60 s each), created
// ended without fsync by concurrent writers so that they batch. rollup is
// Store.WorkflowStats; scan is what it replaces: paging through the
// workspace's executions (List, 1,000 a page) and adding up those of the
// workflow that ended in the period.
//
//	go test -run '^$' -bench WorkflowStats -benchmem ./persistence/
func BenchmarkWorkflowStats(b *testing.B) {
	s, _ := openStore(b, persistence.Options{NoSync: true})
	now := time.Date(2025, 3, 10, 12, 30, 20, 0, time.UTC)
	began := time.Now()
	fillEnded(b, s, now, statsBenchExecutions)
	b.Logf("filled %d ended executions in %v", statsBenchExecutions, time.Since(began).Round(time.Millisecond))
	ctx := context.Background()
	periods := []persistence.Period{persistence.PeriodHour, persistence.PeriodDay, persistence.PeriodWeek}
	for _, p := range periods {
		b.Run("rollup/period="+string(p), func(b *testing.B) {
			b.ReportAllocs()
			var st persistence.WorkflowStats
			for b.Loop() {
				var err error
				if st, err = s.WorkflowStats(ctx, "ws1", "wf", p, now); err != nil {
					b.Fatal(err)
				}
			}
			want, p95 := scanStats(b, s, p, now)
			if got := countsOf(st); got != want {
				b.Fatalf("rollup counts %+v, the scan %+v", got, want)
			}
			if exact := float64(p95.Microseconds()) / 1000; math.Abs(st.P95DurationMS-exact) > exact*0.05 {
				b.Fatalf("rollup p95 %v ms, the scan %v ms", st.P95DurationMS, exact)
			}
		})
	}
	for _, p := range periods {
		b.Run("scan/period="+string(p), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				scanStats(b, s, p, now)
			}
		})
	}
}

// fillEnded creates n executions of ws1/wf already ended, the last at now.
func fillEnded(b *testing.B, s *persistence.Store, now time.Time, n int) {
	b.Helper()
	const writers = 32
	step := 7 * 24 * time.Hour / time.Duration(n)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				id := fmt.Sprintf("exec_%08d", i)
				end := now.Add(-time.Duration(i) * step)
				e := newExec("ws1", "wf", id, end.Add(-time.Duration(1+i%60)*time.Second))
				e.Status, e.UpdatedAt = weft.StatusCompleted, end
				switch {
				case i%100 < 7:
					e.Status = weft.StatusFailed
				case i%100 < 10:
					e.Status = weft.StatusCancelled
				}
				if _, err := s.CreateExecution(context.Background(), e, ev(id, 1, events.ExecutionStarted)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// scanStats is stats without the rollup: every execution of the workspace
// is read to find the workflow's that ended in the period. It returns the
// counts and the p95 duration (exact, by sorting).
func scanStats(b *testing.B, s *persistence.Store, p persistence.Period, now time.Time) (counts, time.Duration) {
	from := now.Truncate(time.Minute).Add(time.Minute - p.Duration())
	var c counts
	var durations []time.Duration
	cursor := ""
	for {
		page, next, err := s.List(context.Background(), persistence.ListFilter{Workspace: "ws1", Limit: 1000, Cursor: cursor})
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range page {
			if e.Workflow != "wf" || !e.Status.Terminal() || e.UpdatedAt.Before(from) || e.UpdatedAt.After(now) {
				continue
			}
			c.runs++
			switch e.Status {
			case weft.StatusCompleted:
				c.completed++
			case weft.StatusFailed:
				c.failed++
			case weft.StatusCancelled:
				c.cancelled++
			}
			durations = append(durations, e.UpdatedAt.Sub(e.CreatedAt))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(durations) == 0 {
		return c, 0
	}
	slices.Sort(durations)
	return c, durations[(len(durations)*95+99)/100-1]
}
