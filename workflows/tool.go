package workflows

import (
	"context"
	"encoding/json"
	"time"

	"github.com/weft-run/weft/events"
)

// Tool is a Go function the workflow (or a model) can call as a durable
// step, with a name, a description and the JSON schema of its input.
type Tool[In, Out any] struct {
	name        string
	description string
	schema      json.RawMessage
	fn          func(context.Context, In) (Out, error)
}

// NewTool defines a tool; the input schema is derived from In.
func NewTool[In, Out any](name, description string, fn func(context.Context, In) (Out, error)) *Tool[In, Out] {
	return &Tool[In, Out]{name: name, description: description, schema: schemaOf[In](), fn: fn}
}

// Name returns the tool's name.
func (t *Tool[In, Out]) Name() string { return t.name }

// Spec describes the tool for a model (OpenAI tool-calling format).
func (t *Tool[In, Out]) Spec() ToolSpec {
	return ToolSpec{Name: t.name, Description: t.description, Parameters: t.schema}
}

// Call runs the tool as a durable step, emitting tool_start, tool_end or
// tool_error.
func (t *Tool[In, Out]) Call(ctx Context, in In, opts ...StepOption) (Out, error) {
	input := encodeInput(in)
	return runStep(ctx, stepSpec[Out]{
		kind: "tool",
		name: t.name,
		opts: newStepOptions(opts),
		started: func(a attempt) events.Event {
			return events.New(events.ToolStart, events.ToolDetails{StepID: a.stepID, Tool: t.name, Input: input})
		},
		ended: func(a attempt, out json.RawMessage) events.Event {
			return events.New(events.ToolEnd, events.ToolDetails{StepID: a.stepID, Tool: t.name, Output: out, DurationMS: millis(a.elapsed)})
		},
		failed: func(a attempt, info *events.ErrorInfo, willRetry bool, _ time.Duration) events.Event {
			return events.New(events.ToolError, events.ToolDetails{StepID: a.stepID, Tool: t.name, Error: info, WillRetry: ptr(willRetry)})
		},
		body: func(ctx context.Context, _ attempt) (Out, error) { return t.fn(ctx, in) },
	})
}
