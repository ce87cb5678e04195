package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/workflows"
)

// stepTimer collects the wall time of each durable step (the checkpoint's
// fsync included) across executions.
type stepTimer struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *stepTimer) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (s *stepTimer) percentile(p float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return 0
	}
	slices.Sort(s.d)
	return s.d[int(p*float64(len(s.d)-1))]
}

type benchIn struct {
	Steps int `json:"steps"`
}

// BenchmarkDurableSteps measures durable steps per second through the whole
// engine (execution actor, group-commit store with fsync, bus), and the
// overhead of one step: an empty task, so all of it is recording.
//
//	go test -run '^$' -bench DurableSteps -benchtime 20000x ./server/
func BenchmarkDurableSteps(b *testing.B) {
	for _, parallel := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("executions=%d", parallel), func(b *testing.B) {
			timer := &stepTimer{}
			ts := startServer(b, "", func(reg *workflows.Registry) {
				workflows.Register(reg, "bench-steps", func(ctx workflows.Context, in benchIn) (int, error) {
					for i := range in.Steps {
						start := time.Now()
						if _, err := workflows.Task(ctx, "step", func(context.Context) (int, error) { return i, nil }); err != nil {
							return 0, err
						}
						timer.add(time.Since(start))
					}
					return in.Steps, nil
				})
			})
			perExec := max(b.N/parallel, 1)
			who := weft.Identity{Name: "bench", Workspace: "bench", Scopes: []weft.Scope{weft.ScopeAdmin}}
			params, _ := json.Marshal(benchIn{Steps: perExec})
			ctx := context.Background()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range parallel {
				wg.Add(1)
				go func() {
					defer wg.Done()
					runToEnd(b, ts, ctx, who, params)
				}()
			}
			wg.Wait()
			b.StopTimer()
			steps := float64(perExec * parallel)
			b.ReportMetric(steps/b.Elapsed().Seconds(), "steps/s")
			b.ReportMetric(float64(timer.percentile(0.50).Microseconds()), "p50-µs/step")
			b.ReportMetric(float64(timer.percentile(0.99).Microseconds()), "p99-µs/step")
		})
	}
}

func runToEnd(b *testing.B, ts *testServer, ctx context.Context, who weft.Identity, params json.RawMessage) {
	res, err := ts.Service().Start(ctx, who, actors.StartRequest{Name: "bench-steps", Parameters: params})
	if err != nil {
		b.Error(err)
		return
	}
	sub, err := ts.Service().Subscribe(ctx, who, res.ExecutionID, 0)
	if err != nil {
		b.Error(err)
		return
	}
	// Stored bytes, not decoded events: the harness shares the cores with
	// the engine and should cost it as little as a socket would.
	err = sub.RunStored(ctx, func(e events.Stored) error {
		if e.Type == events.ExecutionFailed {
			return fmt.Errorf("execution failed: %s", e.JSON)
		}
		return nil
	})
	if err != nil {
		b.Error(err)
	}
}
