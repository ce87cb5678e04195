package reference

import (
	"context"
	"fmt"
	"time"

	"github.com/weft-run/weft/workflows"
)

// Bounds of countdown's parameters (its schema says the same; a test
// checks they agree).
const (
	MaxCountdownSteps   = 10000 // sequential tasks: 20000+ events
	MaxCountdownDelayMS = 60000 // one minute per task
)

// CountdownInput are the parameters of countdown.
type CountdownInput struct {
	Steps   int `json:"steps" jsonschema:"required,minimum=0,maximum=10000,description=number of sequential tasks (0 to 10000)"`
	DelayMS int `json:"delay_ms,omitempty" jsonschema:"minimum=0,maximum=60000,description=how long each task sleeps in milliseconds (0 to 60000; default 0)"`
}

// CountdownResult is countdown's output.
type CountdownResult struct {
	Steps int `json:"steps"`
}

// Countdown runs Steps sequential tasks, each sleeping DelayMS. Crash and
// load tests use it: each task is one durable step.
func Countdown(ctx workflows.Context, in CountdownInput) (CountdownResult, error) {
	if in.Steps < 0 || in.Steps > MaxCountdownSteps || in.DelayMS < 0 || in.DelayMS > MaxCountdownDelayMS {
		return CountdownResult{}, workflows.NonRetryable(fmt.Errorf("steps must be 0..%d and delay_ms 0..%d", MaxCountdownSteps, MaxCountdownDelayMS))
	}
	for i := 1; i <= in.Steps; i++ {
		_, err := workflows.Task(ctx, fmt.Sprintf("tick-%d", i), func(ctx context.Context) (int, error) {
			return in.Steps - i, sleep(ctx, time.Duration(in.DelayMS)*time.Millisecond)
		})
		if err != nil {
			return CountdownResult{}, err
		}
	}
	return CountdownResult{Steps: in.Steps}, nil
}
