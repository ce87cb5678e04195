package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/workflows"
)

type point struct {
	X int `json:"x"`
	Y int `json:"y"`
}

type shapeIn struct {
	Name   string  `json:"name" jsonschema:"description=what to call it"`
	Points []point `json:"points"`
	Note   string  `json:"note,omitempty"`
}

// newShapeTool counts its calls, so tests can tell a refused input from a
// run.
func newShapeTool(calls *atomic.Int32) *workflows.Tool[shapeIn, int] {
	return workflows.NewTool("shape", "Counts the points of a shape.", func(_ context.Context, in shapeIn) (int, error) {
		calls.Add(1)
		return len(in.Points), nil
	})
}

// callJSONWorkflow calls the tool set with one call and returns the
// output, or the tool_error details.
func callJSONWorkflow(set *workflows.ToolSet, call workflows.ToolCall) *workflows.Registry {
	reg := workflows.NewRegistry()
	workflows.Register(reg, "call", func(ctx workflows.Context, _ struct{}) (json.RawMessage, error) {
		return set.Call(ctx, call)
	})
	return reg
}

func TestToolCallJSON(t *testing.T) {
	var calls atomic.Int32
	set, err := workflows.NewToolSet(newShapeTool(&calls))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		call   workflows.ToolCall
		output string // on success
		code   string // on failure
		msg    string
	}{
		{name: "valid", call: workflows.ToolCall{Name: "shape", Arguments: json.RawMessage(`{"name":"tri","points":[{"x":1,"y":2},{"x":0,"y":0},{"x":3,"y":1}],"extra":true}`)}, output: "3"},
		{name: "wrong type", call: workflows.ToolCall{Name: "shape", Arguments: json.RawMessage(`{"name":7,"points":[]}`)},
			code: workflows.CodeToolInvalidInput, msg: "do not fit the input schema"},
		{name: "missing required field", call: workflows.ToolCall{Name: "shape", Arguments: json.RawMessage(`{"points":[]}`)},
			code: workflows.CodeToolInvalidInput, msg: `missing required field "name"`},
		{name: "null required field", call: workflows.ToolCall{Name: "shape", Arguments: json.RawMessage(`{"name":null,"points":[]}`)},
			code: workflows.CodeToolInvalidInput, msg: `missing required field "name"`},
		{name: "missing nested field", call: workflows.ToolCall{Name: "shape", Arguments: json.RawMessage(`{"name":"p","points":[{"x":1,"y":1},{"x":2}]}`)},
			code: workflows.CodeToolInvalidInput, msg: `missing required field "points[1].y"`},
		{name: "not an object", call: workflows.ToolCall{Name: "shape", Arguments: workflows.ToolArguments(`{name: tri`)},
			code: workflows.CodeToolInvalidInput, msg: "must be a JSON object"},
		{name: "array", call: workflows.ToolCall{Name: "shape", Arguments: json.RawMessage(`[1,2]`)},
			code: workflows.CodeToolInvalidInput, msg: "must be a JSON object"},
		{name: "unknown tool", call: workflows.ToolCall{Name: "circle", Arguments: json.RawMessage(`{}`)},
			code: workflows.CodeToolNotFound, msg: `no tool named "circle"; the tools are: shape`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			j := newJournal()
			out, err := execute(t, callJSONWorkflow(set, tt.call), "call", `{}`, j)
			starts := detailsOf[events.ToolDetails](t, j, events.ToolStart)
			if len(starts) != 1 || starts[0].Tool != tt.call.Name || string(starts[0].Input) != string(tt.call.Arguments) {
				t.Fatalf("tool_start = %+v", starts)
			}
			if tt.code == "" {
				if err != nil || string(out) != tt.output || calls.Load() != 1 {
					t.Fatalf("out %s, err %v, calls %d", out, err, calls.Load())
				}
				return
			}
			var se *workflows.StepError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a StepError", err)
			}
			fails := detailsOf[events.ToolDetails](t, j, events.ToolError)
			if len(fails) != 1 || fails[0].Error.Code != tt.code || !strings.Contains(fails[0].Error.Message, tt.msg) {
				t.Fatalf("tool_error = %+v, want code %s with %q", fails, tt.code, tt.msg)
			}
			if fails[0].WillRetry == nil || *fails[0].WillRetry {
				t.Fatal("a bad input must not be retried")
			}
			if calls.Load() != 0 {
				t.Fatal("the tool ran on a refused input")
			}
		})
	}
}

func TestToolSpecDerivesTheSchema(t *testing.T) {
	var calls atomic.Int32
	spec := newShapeTool(&calls).Spec()
	var schema struct {
		Type       string                     `json:"type"`
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(spec.Parameters, &schema); err != nil {
		t.Fatal(err)
	}
	if spec.Name != "shape" || schema.Type != "object" || strings.Join(schema.Required, ",") != "name,points" {
		t.Fatalf("spec = %s %s", spec.Name, spec.Parameters)
	}
	if !strings.Contains(string(schema.Properties["name"]), "what to call it") {
		t.Fatalf("description tag lost: %s", schema.Properties["name"])
	}
}

func TestToolNamesAndSets(t *testing.T) {
	for _, name := range []string{"", "has space", "dot.ted", strings.Repeat("x", 65)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewTool(%q) did not panic", name)
				}
			}()
			workflows.NewTool(name, "", func(context.Context, struct{}) (int, error) { return 0, nil })
		}()
	}
	var calls atomic.Int32
	if _, err := workflows.NewToolSet(newShapeTool(&calls), newShapeTool(&calls)); err == nil {
		t.Fatal("two tools of one name accepted")
	}
	if _, err := workflows.NewToolSet(nil); err == nil {
		t.Fatal("nil tool accepted")
	}
}

func TestToolArguments(t *testing.T) {
	tests := map[string]string{
		``:           `{}`,
		`  `:         `{}`,
		`null`:       `{}`,
		`{"a":1}`:    `{"a":1}`,
		` [1] `:      `[1]`,
		`{"a":`:      `"{\"a\":"`,
		`hello`:      `"hello"`,
		"\"quoted\"": `"quoted"`,
	}
	for in, want := range tests {
		if got := string(workflows.ToolArguments(in)); got != want {
			t.Errorf("ToolArguments(%q) = %s, want %s", in, got, want)
		}
	}
}
