package reference

import (
	"context"
	"fmt"
	"time"

	"github.com/weft-run/weft/workflows"
)

// CountdownInput are the parameters of countdown.
type CountdownInput struct {
	Steps   int `json:"steps" jsonschema:"minimum=0,maximum=100000,description=number of sequential tasks"`
	DelayMS int `json:"delay_ms" jsonschema:"minimum=0,description=how long each task sleeps"`
}

// CountdownResult is countdown's output.
type CountdownResult struct {
	Steps int `json:"steps"`
}

// Countdown runs Steps sequential tasks, each sleeping DelayMS. Crash and
// load tests use it: each task is one durable step.
func Countdown(ctx workflows.Context, in CountdownInput) (CountdownResult, error) {
	if in.Steps < 0 || in.Steps > 100000 || in.DelayMS < 0 {
		return CountdownResult{}, workflows.NonRetryable(fmt.Errorf("steps must be 0..100000 and delay_ms >= 0"))
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
