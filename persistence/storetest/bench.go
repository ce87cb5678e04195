package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// BenchSteps measures durable steps per second on s with executions
// running at once. A step is what the actors write for one task: its
// task_start, then its task_end with its checkpoint, each a write of its
// own, both handed to the store without waiting (CommitAsync, two in
// flight, as an execution actor does), and the step done when both are
// committed. b.N steps are spread over the executions.
//
// It reports steps/s and the p50 and p99 of a step's latency.
func BenchSteps(b *testing.B, s Store, executions int) {
	ids := make([]string, executions)
	for i := range ids {
		ids[i] = fmt.Sprintf("exec_bench_%d", i)
		first := event(ids[i], 1, events.ExecutionStarted)
		if _, err := s.CreateExecution(b.Context(), newExec("bench", "wf", ids[i], t0), first); err != nil {
			b.Fatal(err)
		}
	}
	output := json.RawMessage(`{"result":"a short task output, as most are"}`)
	var mu sync.Mutex
	var latencies []time.Duration
	var wg sync.WaitGroup
	errs := make(chan error, executions)
	b.ResetTimer()
	start := time.Now()
	for i, id := range ids {
		steps := b.N / executions
		if i < b.N%executions {
			steps++
		}
		wg.Go(func() {
			mine := make([]time.Duration, 0, steps)
			seq := uint64(2)
			for n := range steps {
				began := time.Now()
				done := make(chan error, 2)
				s.CommitAsync(persistence.Write{ExecutionID: id, Events: []events.Event{event(id, seq, events.TaskStart)}}, func(err error) { done <- err })
				s.CommitAsync(persistence.Write{
					ExecutionID: id,
					Events:      []events.Event{event(id, seq+1, events.TaskEnd)},
					Steps:       []persistence.Step{{ID: fmt.Sprintf("step-%d", n), Kind: "task", Name: "bench", Output: output, Attempts: 1, StartedAt: t0, CompletedAt: t0}},
				}, func(err error) { done <- err })
				for range 2 {
					if err := <-done; err != nil {
						errs <- fmt.Errorf("%s step %d: %w", id, n, err)
						return
					}
				}
				mine = append(mine, time.Since(began))
				seq += 2
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "steps/s")
	if len(latencies) > 0 {
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
}
