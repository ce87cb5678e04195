package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/weft-run/weft/checkpoint"
	"github.com/weft-run/weft/events"
)

// Child runs the registered workflow name as a child of this execution,
// inline: its steps are numbered under the child's position, its events
// (framed by its own workflow_start and workflow_end) stream with the
// parent's, and its result is recorded like a step.
func Child[Out any](ctx Context, name string, input any) (Out, error) {
	var zero Out
	c := ctx.state()
	id := c.nextStepID()
	rec, recorded := c.run.journal.Recorded(id)
	if recorded && (!rec.Pending() || rec.Kind != "workflow" || rec.Name != name) {
		return replayStep[Out](id, rec, "workflow", name)
	}
	reg := c.run.env.Registry
	def, ok := reg.lookupOrNil(name)
	if !ok {
		return zero, NonRetryable(fmt.Errorf("child workflow %q is not registered", name))
	}
	params, err := json.Marshal(input)
	if err != nil {
		return zero, NonRetryable(fmt.Errorf("encode input of child %q: %w", name, err))
	}
	// A child's input is checked like a start's: a parent cannot pass
	// what no client could.
	if err := def.Validate(params); err != nil {
		return zero, NonRetryable(fmt.Errorf("child %q: %w", name, err))
	}
	in, err := def.decode(params)
	if err != nil {
		return zero, NonRetryable(fmt.Errorf("child %q: %w", name, err))
	}
	started := time.Now().UTC()
	if recorded {
		started = rec.StartedAt
	} else {
		pending := checkpoint.Step{ID: id, Kind: "workflow", Name: name, State: checkpoint.StatePending, StartedAt: started}
		start := events.New(events.WorkflowStart, events.WorkflowDetails{Name: name, StepID: id, Input: params})
		if err := c.run.journal.Checkpoint(ctx, Checkpoint{Step: pending, Events: []events.Event{start}}); err != nil {
			return zero, err
		}
	}
	out, runErr := callProtected(func() (any, error) { return def.run(c.scope(id, false), in) })
	if runErr != nil && c.Err() != nil {
		return zero, runErr // cancelled or shutting down: nothing to record
	}
	done := checkpoint.Step{ID: id, Kind: "workflow", Name: name, StartedAt: started, CompletedAt: time.Now().UTC()}
	var end events.Event
	if runErr == nil {
		raw, err := json.Marshal(out)
		if err != nil {
			runErr = NonRetryable(fmt.Errorf("encode output of child %q: %w", name, err))
		} else {
			done.Output = raw
			end = events.New(events.WorkflowEnd, events.WorkflowDetails{Name: name, StepID: id, Output: raw})
		}
	}
	if runErr != nil {
		done.Error = ErrorInfo(runErr)
		end = events.New(events.WorkflowError, events.WorkflowDetails{Name: name, StepID: id, Error: done.Error})
	}
	if err := c.run.journal.Checkpoint(ctx, Checkpoint{Step: done, Events: []events.Event{end}}); err != nil {
		return zero, err
	}
	return replayStep[Out](id, done, "workflow", name)
}
