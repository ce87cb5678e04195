package reference

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/weft-run/weft/workflows"
)

// ApprovalInput are the parameters of approval.
type ApprovalInput struct {
	DelayMS int `json:"delay_ms,omitempty" jsonschema:"minimum=0,description=how long the preparing task takes"`
	// TimeoutMS bounds the wait for the signal (0: wait for ever).
	TimeoutMS int `json:"timeout_ms,omitempty" jsonschema:"minimum=0"`
}

// Approval prepares (a task that takes DelayMS), then waits for the signal
// "approve" and returns its payload. The wait survives restarts and costs
// no goroutine.
func Approval(ctx workflows.Context, in ApprovalInput) (json.RawMessage, error) {
	_, err := workflows.Task(ctx, "prepare", func(ctx context.Context) (bool, error) {
		return true, sleep(ctx, time.Duration(in.DelayMS)*time.Millisecond)
	})
	if err != nil {
		return nil, err
	}
	return workflows.WaitSignal[json.RawMessage](ctx, "approve", time.Duration(in.TimeoutMS)*time.Millisecond)
}

// FlakyInput are the parameters of flaky.
type FlakyInput struct {
	FailTimes int `json:"fail_times" jsonschema:"minimum=0,maximum=10"`
}

// Flaky runs one task that fails its first FailTimes attempts, then
// succeeds: task_error events with will_retry, then task_end.
func Flaky(ctx workflows.Context, in FlakyInput) (int, error) {
	if in.FailTimes < 0 || in.FailTimes > 10 {
		return 0, workflows.NonRetryable(fmt.Errorf("fail_times must be 0..10"))
	}
	return workflows.Task(ctx, "flaky", func(ctx context.Context) (int, error) {
		if n := workflows.Attempt(ctx); n <= in.FailTimes {
			return 0, fmt.Errorf("attempt %d fails on purpose", n)
		}
		return workflows.Attempt(ctx), nil
	}, workflows.WithRetry(workflows.RetryPolicy{
		MaxAttempts: in.FailTimes + 1, InitialInterval: 50 * time.Millisecond, Multiplier: 2, MaxInterval: time.Second,
	}))
}

// FanoutInput are the parameters of fanout.
type FanoutInput struct {
	N int `json:"n" jsonschema:"minimum=0,maximum=1000"`
}

// FanoutResult is fanout's output.
type FanoutResult struct {
	Sum   int   `json:"sum"`
	Parts []int `json:"parts"`
}

// Fanout runs N tasks in parallel branches, then aggregates them in a task.
func Fanout(ctx workflows.Context, in FanoutInput) (FanoutResult, error) {
	if in.N < 0 || in.N > 1000 {
		return FanoutResult{}, workflows.NonRetryable(fmt.Errorf("n must be 0..1000"))
	}
	futures := make([]*workflows.Future[int], in.N)
	for i := range in.N {
		futures[i] = workflows.Go(ctx, func(ctx workflows.Context) (int, error) {
			return workflows.Task(ctx, fmt.Sprintf("part-%d", i), func(context.Context) (int, error) {
				return i * i, nil
			})
		})
	}
	parts, err := workflows.All(ctx, futures...)
	if err != nil {
		return FanoutResult{}, err
	}
	return workflows.Task(ctx, "aggregate", func(context.Context) (FanoutResult, error) {
		sum := 0
		for _, p := range parts {
			sum += p
		}
		return FanoutResult{Sum: sum, Parts: parts}, nil
	})
}

// NapInput are the parameters of nap.
type NapInput struct {
	Seconds float64 `json:"seconds" jsonschema:"minimum=0"`
}

// Nap sleeps durably for Seconds, then completes: across a restart it
// wakes when it was due.
func Nap(ctx workflows.Context, in NapInput) (string, error) {
	if in.Seconds < 0 {
		return "", workflows.NonRetryable(fmt.Errorf("seconds must be >= 0"))
	}
	if err := workflows.Sleep(ctx, time.Duration(in.Seconds*float64(time.Second))); err != nil {
		return "", err
	}
	return "rested", nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
