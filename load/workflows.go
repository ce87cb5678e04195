package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// WorkflowsOptions configure the workflows scenario.
type WorkflowsOptions struct {
	Clients  int           // concurrent sockets, each running one execution at a time
	Workflow string        // "countdown" or "echo"
	Steps    int           // countdown steps (delay 0)
	Duration time.Duration // how long to keep starting executions
}

// Workflows has Clients sockets start executions back to back for
// Duration, each waiting for its execution to complete before the next.
func Workflows(ctx context.Context, t Target, o WorkflowsOptions, progress Progress) (Report, error) {
	if err := t.CheckLoopback(); err != nil {
		return Report{}, err
	}
	var (
		executions, steps, errs atomic.Int64
		firstErr                atomic.Value
		kinds                   tally
		firstEvent, completed   = newLatency(), newLatency()
		wg                      sync.WaitGroup
	)
	params := map[string]any{"steps": o.Steps, "delay_ms": 0}
	if o.Workflow == "echo" {
		params = map[string]any{"hello": "weft"}
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	began := time.Now()
	for i := range o.Clients {
		c, err := dial(t)
		if err != nil {
			return Report{}, fmt.Errorf("client %d: %w", i, err)
		}
		c.run()
		defer c.close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace := time.NewTicker(max(t.interval(), time.Nanosecond))
			defer pace.Stop()
			for n := 0; runCtx.Err() == nil; n++ {
				if t.interval() > 0 && n > 0 {
					select {
					case <-pace.C: // under the server's rate (Target.Rate)
					case <-runCtx.Done():
						return
					}
				}
				id := fmt.Sprintf("c%d-%d", i, n)
				s, err := runOne(c, id, startRequest(o.Workflow, params, t.Metadata), firstEvent, completed)
				if err != nil {
					if runCtx.Err() == nil {
						errs.Add(1)
						kinds.add(err)
						firstErr.CompareAndSwap(nil, err.Error())
					}
					return
				}
				executions.Add(1)
				steps.Add(int64(s))
			}
		}()
	}
	stop := tick(progress, func() string {
		el := time.Since(began).Seconds()
		return fmt.Sprintf("%5.1fs  executions %d (%.0f/s)  steps %d  errors %d", el, executions.Load(), float64(executions.Load())/el, steps.Load(), errs.Load())
	})
	wg.Wait()
	stop()
	elapsed := time.Since(began)
	if msg, ok := firstErr.Load().(string); ok {
		progress.say("first error: %s", msg)
	}
	return Report{
		Scenario: "workflows",
		Params:   map[string]any{"clients": o.Clients, "workflow": o.Workflow, "steps": o.Steps, "duration": o.Duration.String()},
		Elapsed:  elapsed,
		Figures: map[string]float64{
			"executions":            float64(executions.Load()),
			"executions_per_second": float64(executions.Load()) / elapsed.Seconds(),
			"durable_steps_per_sec": float64(steps.Load()) / elapsed.Seconds(),
		},
		Latencies:  map[string]Summary{"start_to_first_event": firstEvent.summary(), "start_to_completed": completed.summary()},
		Errors:     errs.Load(),
		ErrorKinds: kinds.counts(),
	}, nil
}

// startRequest is a workflow.start request, tagged with metadata.
func startRequest(workflow string, params any, metadata map[string]string) map[string]any {
	req := map[string]any{"name": workflow, "parameters": params}
	if len(metadata) > 0 {
		req["metadata"] = metadata
	}
	return req
}

// runOne starts one execution on c and waits for its end. It returns the
// number of durable steps it saw (task_end events).
func runOne(c *conn, id string, start map[string]any, firstEvent, completed *latency) (int, error) {
	began := time.Now()
	ch, err := c.request(id, "workflow.start", start)
	if err != nil {
		return 0, err
	}
	defer c.forget(id)
	steps, sawEvent := 0, false
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case f := <-ch:
			if f.Error != nil {
				return 0, fmt.Errorf("%s: %s", f.Error.Code, f.Error.Message)
			}
			if f.Type != "" && !sawEvent {
				sawEvent = true
				firstEvent.record(time.Since(began))
			}
			if f.Type == "task_end" {
				steps++
			}
			if f.Complete {
				if f.Type != "execution_completed" {
					return 0, fmt.Errorf("execution ended with %s", f.Type)
				}
				completed.record(time.Since(began))
				return steps, nil
			}
		case <-c.done:
			return 0, fmt.Errorf("socket closed: %v", c.err)
		case <-timeout.C:
			return 0, errors.New("execution did not complete within 30s")
		}
	}
}

// tick calls progress with line() every second until stop is called.
func tick(progress Progress, line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				progress.say("%s", line())
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
