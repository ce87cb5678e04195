package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ToolSet is the registry of tools offered to a model, by name: their specs
// for the request, and the dispatch of the model's tool calls. A ToolSet is
// read-only once built and safe for concurrent use.
type ToolSet struct {
	byName map[string]AnyTool
	specs  []ToolSpec
}

// NewToolSet builds a set; a nil tool or two tools of one name are an
// error.
func NewToolSet(tools ...AnyTool) (*ToolSet, error) {
	s := &ToolSet{byName: make(map[string]AnyTool, len(tools))}
	for i, t := range tools {
		if t == nil {
			return nil, fmt.Errorf("tool %d is nil", i)
		}
		spec := t.Spec()
		if _, dup := s.byName[spec.Name]; dup {
			return nil, fmt.Errorf("two tools named %q", spec.Name)
		}
		s.byName[spec.Name] = t
		s.specs = append(s.specs, spec)
	}
	return s, nil
}

// Specs returns the specs of the tools, in the order given.
func (s *ToolSet) Specs() []ToolSpec { return s.specs }

// Lookup returns the tool named name.
func (s *ToolSet) Lookup(name string) (AnyTool, bool) {
	t, ok := s.byName[name]
	return t, ok
}

// Call runs a model's tool call as a durable tool step. A call of a tool
// not in the set is still a step (tool_start, then tool_error with code
// TOOL_NOT_FOUND), so the model's mistake is visible and recorded like any
// other result.
func (s *ToolSet) Call(ctx Context, call ToolCall, opts ...StepOption) (json.RawMessage, error) {
	if t, ok := s.byName[call.Name]; ok {
		return t.CallJSON(ctx, call.Arguments, opts...)
	}
	names := make([]string, len(s.specs))
	for i, spec := range s.specs {
		names[i] = spec.Name
	}
	name := truncate(call.Name, 64)
	if name == "" {
		name = "(unnamed)"
	}
	return toolStep(ctx, name, ToolArguments(string(call.Arguments)), opts, func(context.Context) (json.RawMessage, error) {
		return nil, NonRetryable(Errorf(CodeToolNotFound, "no tool named %q; the tools are: %s", call.Name, strings.Join(names, ", ")))
	})
}

// toolFailure reports whether err is a tool step's recorded failure (which
// an agent hands back to the model), as opposed to the execution being
// cancelled or the journal failing (which end the workflow).
func toolFailure(err error) (*StepError, bool) {
	var se *StepError
	ok := errors.As(err, &se)
	return se, ok
}
