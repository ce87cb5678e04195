package persistence_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// BenchmarkRetention measures how fast retention removes ended executions
// (fsync on, batches of 256 as the sweeper runs them): each execution has
// 12 events (a 10-step countdown's worth of task_end) and 10 steps. The
// store is filled without fsync, then reopened with it for the timed part.
// ms/batch is the mean time of one batch (its read and its commit): about
// how long an append queued behind a batch waits.
//
//	go test -run '^$' -bench Retention -benchtime 20000x ./persistence/
func BenchmarkRetention(b *testing.B) {
	for _, batch := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			path := filepath.Join(b.TempDir(), "weft.db")
			fill, err := persistence.Open(path, persistence.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			for i := range b.N {
				id := fmt.Sprintf("exec_%08d", i)
				create(b, fill, newExec("ws1", "countdown", id, t0))
				var steps []persistence.Step
				for s := 1; s <= 10; s++ {
					steps = append(steps, persistence.Step{ID: fmt.Sprint(s), Kind: "task", Name: "tick", Attempts: 1, StartedAt: t0, CompletedAt: t0})
				}
				commit(b, fill, persistence.Write{ExecutionID: id, Events: evs(id, 2, 11), Steps: steps})
				end(b, fill, id, 12, weft.StatusCompleted, t0)
			}
			if err := fill.BuildEndedIndex(ctx); err != nil {
				b.Fatal(err)
			}
			if err := fill.Close(); err != nil {
				b.Fatal(err)
			}
			var commits batches
			s, err := persistence.Open(path, persistence.Options{OnCommit: commits.hook})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			keep := func(string) time.Duration { return time.Minute }
			b.ResetTimer()
			start := time.Now()
			removed := 0
			for {
				n, more, err := s.DeleteExpired(ctx, t0.Add(time.Hour), keep, batch)
				if err != nil {
					b.Fatal(err)
				}
				removed += n
				if !more {
					break
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if removed != b.N {
				b.Fatalf("removed %d of %d", removed, b.N)
			}
			b.ReportMetric(float64(removed)/elapsed.Seconds(), "executions/s")
			var worst time.Duration
			commits.mu.Lock()
			nb := len(commits.sizes)
			commits.mu.Unlock()
			if nb > 0 {
				worst = elapsed / time.Duration(nb)
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "ms/batch")
		})
	}
}
