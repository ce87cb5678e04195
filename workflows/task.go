package workflows

import (
	"context"
	"encoding/json"
	"time"

	"github.com/weft-run/weft/events"
)

// Task runs fn as a durable step named name. Its result is recorded: once
// the step has completed, a re-run of the workflow gets the recorded result
// without calling fn again. fn's result must survive a JSON round trip.
//
// A failing fn is retried per the step's RetryPolicy (DefaultRetryPolicy
// unless WithRetry is given); each failure emits task_error.
func Task[T any](ctx Context, name string, fn func(context.Context) (T, error), opts ...StepOption) (T, error) {
	o := newStepOptions(opts)
	input := encodeInput(o.input)
	return runStep(ctx, stepSpec[T]{
		kind: "task",
		name: name,
		opts: o,
		started: func(a attempt) events.Event {
			return events.New(events.TaskStart, events.TaskDetails{StepID: a.stepID, Name: name, Attempt: a.number, Input: input})
		},
		ended: func(a attempt, out json.RawMessage) events.Event {
			return events.New(events.TaskEnd, events.TaskDetails{StepID: a.stepID, Name: name, Attempt: a.number, Output: out, DurationMS: millis(a.elapsed)})
		},
		failed: func(a attempt, info *events.ErrorInfo, willRetry bool, retryIn time.Duration) events.Event {
			return events.New(events.TaskError, events.TaskDetails{
				StepID: a.stepID, Name: name, Attempt: a.number, Error: info,
				WillRetry: ptr(willRetry), RetryInMS: millis(retryIn),
			})
		},
		body: func(ctx context.Context, _ attempt) (T, error) { return fn(ctx) },
	})
}
