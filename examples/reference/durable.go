package reference

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/weft-run/weft/workflows"
)

// Bounds of the reference workflows' parameters (their schemas say the
// same; a test checks they agree).
const (
	MaxApprovalDelayMS   = 3600000   // the preparing task: one hour
	MaxApprovalTimeoutMS = 604800000 // the wait for the signal: seven days
	MaxFlakyFailTimes    = 100       // above MaxFlakyRetried, the task fails for good
	MaxFlakyRetried      = 10        // fail_times up to this many are retried until the task succeeds
	MaxFanoutN           = 1000      // parallel tasks
	MaxNapSeconds        = 31536000  // a year: far below time.Duration's 292 years
	maxNapDuration       = time.Duration(MaxNapSeconds) * time.Second
)

// ApprovalInput are the parameters of approval.
type ApprovalInput struct {
	DelayMS int `json:"delay_ms,omitempty" jsonschema:"minimum=0,maximum=3600000,description=how long the preparing task takes in milliseconds (0 to 3600000)"`
	// TimeoutMS bounds the wait for the signal (0: wait for ever).
	TimeoutMS int `json:"timeout_ms,omitempty" jsonschema:"minimum=0,maximum=604800000,description=how long to wait for the signal in milliseconds (0: for ever; at most 604800000)"`
}

// Approval prepares (a task that takes DelayMS), then waits for the signal
// "approve" and returns its payload. The wait survives restarts and costs
// no goroutine.
func Approval(ctx workflows.Context, in ApprovalInput) (json.RawMessage, error) {
	if in.DelayMS < 0 || in.DelayMS > MaxApprovalDelayMS || in.TimeoutMS < 0 || in.TimeoutMS > MaxApprovalTimeoutMS {
		return nil, workflows.NonRetryable(fmt.Errorf("delay_ms must be 0..%d and timeout_ms 0..%d", MaxApprovalDelayMS, MaxApprovalTimeoutMS))
	}
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
	FailTimes int `json:"fail_times" jsonschema:"required,minimum=0,maximum=100,description=attempts that fail before one succeeds (0 to 10); 11 to 100: the execution fails at once"`
}

// Flaky runs one task that fails its first FailTimes attempts, then
// succeeds: task_error events with will_retry, then task_end. Above
// MaxFlakyRetried (up to MaxFlakyFailTimes) the execution fails at once,
// without retrying: tests use it to get a failed execution.
func Flaky(ctx workflows.Context, in FlakyInput) (int, error) {
	if in.FailTimes < 0 || in.FailTimes > MaxFlakyRetried {
		return 0, workflows.NonRetryable(fmt.Errorf("fail_times must be 0..%d for the task to succeed", MaxFlakyRetried))
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
	N int `json:"n" jsonschema:"required,minimum=0,maximum=1000,description=parallel tasks (0 to 1000)"`
}

// FanoutResult is fanout's output.
type FanoutResult struct {
	Sum   int   `json:"sum"`
	Parts []int `json:"parts"`
}

// Fanout runs N tasks in parallel branches, then aggregates them in a task.
func Fanout(ctx workflows.Context, in FanoutInput) (FanoutResult, error) {
	if in.N < 0 || in.N > MaxFanoutN {
		return FanoutResult{}, workflows.NonRetryable(fmt.Errorf("n must be 0..%d", MaxFanoutN))
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
	Seconds float64 `json:"seconds" jsonschema:"required,minimum=0,maximum=31536000,description=how long to sleep in seconds (0 to 31536000: a year)"`
}

// Nap sleeps durably for Seconds, then completes: across a restart it
// wakes when it was due.
func Nap(ctx workflows.Context, in NapInput) (string, error) {
	d, err := napDuration(in.Seconds)
	if err != nil {
		return "", workflows.NonRetryable(err)
	}
	if err := workflows.Sleep(ctx, d); err != nil {
		return "", err
	}
	return "rested", nil
}

// napDuration converts seconds to a Duration, refusing what a Duration
// cannot hold instead of letting the conversion overflow (1e12 seconds
// would otherwise wrap to a negative Duration: an immediate wake).
func napDuration(seconds float64) (time.Duration, error) {
	// The comparison is false for NaN, so NaN is refused too.
	if !(seconds >= 0 && seconds <= MaxNapSeconds) {
		return 0, fmt.Errorf("seconds must be 0..%d", MaxNapSeconds)
	}
	d := time.Duration(seconds * float64(time.Second))
	if d < 0 || d > maxNapDuration {
		return 0, fmt.Errorf("seconds must be 0..%d", MaxNapSeconds)
	}
	return d, nil
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
