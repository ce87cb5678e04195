package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/weft-run/weft/events"
)

// Tool is a Go function the workflow (or a model) can call as a durable
// step, with a name, a description and the JSON schema of its input.
type Tool[In, Out any] struct {
	name        string
	description string
	schema      json.RawMessage
	required    *schemaNode // what the schema requires, parsed once
	fn          func(context.Context, In) (Out, error)
}

// AnyTool is a tool whatever its Go types, as offered to a model: its spec,
// and a call with the model's JSON arguments. *Tool implements it; so may
// hand-written tools.
type AnyTool interface {
	// Spec describes the tool for a model.
	Spec() ToolSpec
	// CallJSON runs the tool as a durable step on JSON arguments and
	// returns its JSON output. Arguments that do not fit the input schema
	// fail the step with TOOL_INVALID_INPUT (never a panic).
	CallJSON(ctx Context, args json.RawMessage, opts ...StepOption) (json.RawMessage, error)
}

var _ AnyTool = (*Tool[struct{}, struct{}])(nil)

// toolName is what OpenAI-compatible APIs accept as a function name.
var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// NewTool defines a tool; the input schema is derived from In (fields
// without omitempty are required; `jsonschema:"description=..."` tags
// describe them to the model). The name must be 1-64 letters, digits, _ or
// -, as model APIs require: another name panics, like a duplicate
// workflow registration, because it is a programming error.
func NewTool[In, Out any](name, description string, fn func(context.Context, In) (Out, error)) *Tool[In, Out] {
	if !toolName.MatchString(name) {
		panic(fmt.Sprintf("workflows: tool name %q: want 1-64 of a-z A-Z 0-9 _ -", name))
	}
	schema := toolSchema(schemaOf[In]())
	return &Tool[In, Out]{name: name, description: description, schema: schema, required: parseSchema(schema), fn: fn}
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
	return toolStep(ctx, t.name, encodeInput(in), opts, func(ctx context.Context) (Out, error) { return t.fn(ctx, in) })
}

// CallJSON runs the tool as a durable step on JSON arguments, as a model
// gives them: they are decoded into In and checked for the schema's
// required fields inside the step, so a bad input is a tool_error with
// code TOOL_INVALID_INPUT, not retried.
func (t *Tool[In, Out]) CallJSON(ctx Context, args json.RawMessage, opts ...StepOption) (json.RawMessage, error) {
	input := ToolArguments(string(args))
	out, err := toolStep(ctx, t.name, input, opts, func(ctx context.Context) (Out, error) {
		in, err := t.decode(input)
		if err != nil {
			var zero Out
			return zero, NonRetryable(Errorf(CodeToolInvalidInput, "tool %s: %v", t.name, err))
		}
		return t.fn(ctx, in)
	})
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("tool %s: encode output: %w", t.name, err)
	}
	return raw, nil
}

// decode turns arguments into In: the JSON must decode into the type and
// carry every field the schema requires.
func (t *Tool[In, Out]) decode(args json.RawMessage) (In, error) {
	var in In
	if t.required.isObject() && !isJSONObject(args) {
		return in, fmt.Errorf("arguments must be a JSON object, got %s", truncate(string(args), 200))
	}
	if err := json.Unmarshal(args, &in); err != nil {
		return in, fmt.Errorf("arguments do not fit the input schema: %w", err)
	}
	if err := t.required.check(args, ""); err != nil {
		return in, err
	}
	return in, nil
}

// toolStep runs body as a tool step named name, with input shown in
// tool_start.
func toolStep[T any](ctx Context, name string, input json.RawMessage, opts []StepOption, body func(context.Context) (T, error)) (T, error) {
	return runStep(ctx, stepSpec[T]{
		kind: "tool",
		name: name,
		opts: newStepOptions(opts),
		started: func(a attempt) events.Event {
			return events.New(events.ToolStart, events.ToolDetails{StepID: a.stepID, Tool: name, Input: input})
		},
		ended: func(a attempt, out json.RawMessage) events.Event {
			return events.New(events.ToolEnd, events.ToolDetails{StepID: a.stepID, Tool: name, Output: out, DurationMS: millis(a.elapsed)})
		},
		failed: func(a attempt, info *events.ErrorInfo, willRetry bool, _ time.Duration) events.Event {
			return events.New(events.ToolError, events.ToolDetails{StepID: a.stepID, Tool: name, Error: info, WillRetry: ptr(willRetry)})
		},
		body: func(ctx context.Context, _ attempt) (T, error) { return body(ctx) },
	})
}

// toolSchema drops the schema's "$id" (a URL made from the Go package
// path): it tells a model nothing and costs tokens on every call.
func toolSchema(schema json.RawMessage) json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(schema, &fields) != nil {
		return schema
	}
	delete(fields, "$id")
	raw, err := json.Marshal(fields)
	if err != nil {
		return schema
	}
	return raw
}

func isJSONObject(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return strings.HasPrefix(s, "{")
}

// ToolArguments turns the arguments a model produced into JSON fit to
// record: the text itself when it is valid JSON, {} when it is empty, and
// otherwise the text as a JSON string (which the tool then refuses with
// TOOL_INVALID_INPUT, so the model learns its mistake).
func ToolArguments(text string) json.RawMessage {
	trimmed := strings.TrimSpace(text)
	switch {
	case trimmed == "" || trimmed == "null":
		return json.RawMessage(`{}`)
	case json.Valid([]byte(trimmed)):
		return json.RawMessage(trimmed)
	default:
		raw, _ := json.Marshal(text)
		return raw
	}
}
