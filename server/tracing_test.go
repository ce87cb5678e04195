package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// tracedServer boots weft with a tracer provider that records every ended
// span in memory (synchronously: a span has been recorded by the time the
// event that ended it reaches a client).
func tracedServer(t *testing.T, dir string, adjust func(*server.Config), extra ...func(*workflows.Registry)) (*testServer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ts := bootServer(t, dir, func(cfg *server.Config) {
		cfg.TracerProvider = tp
		if adjust != nil {
			adjust(cfg)
		}
	}, extra...)
	return ts, exp
}

// spansNamed returns the recorded spans whose name starts with prefix.
func spansNamed(exp *tracetest.InMemoryExporter, prefix string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range exp.GetSpans() {
		if strings.HasPrefix(s.Name, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// oneSpan returns the one recorded span named name.
func oneSpan(t *testing.T, exp *tracetest.InMemoryExporter, name string) tracetest.SpanStub {
	t.Helper()
	got := spansNamed(exp, name)
	if len(got) != 1 || got[0].Name != name {
		t.Fatalf("spans named %q: %d (all: %v)", name, len(got), spanNames(exp))
	}
	return got[0]
}

func spanNames(exp *tracetest.InMemoryExporter) []string {
	var names []string
	for _, s := range exp.GetSpans() {
		names = append(names, s.Name)
	}
	return names
}

// attr returns a span attribute's value ("" when absent).
func attr(s tracetest.SpanStub, key string) attribute.Value {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func eventNames(s tracetest.SpanStub) []string {
	var names []string
	for _, e := range s.Events {
		names = append(names, e.Name)
	}
	return names
}

// childOf fails unless child's parent is parent, in the same trace.
func childOf(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	if child.Parent.SpanID() != parent.SpanContext.SpanID() || child.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		t.Fatalf("span %q is not a child of %q", child.Name, parent.Name)
	}
}

// An execution is a span with a child span per step; LLM steps carry the
// GenAI attributes and token usage.
func TestTracingSpansPerExecutionAndStep(t *testing.T) {
	ts, exp := tracedServer(t, "", nil)
	c := dial(t, ts, adminToken)
	frames := startAndCollect(t, c, "run", "search-candidates", map[string]any{"user_query": "go", "organization_id": "org_1"})
	id := frames[1].event(t).ExecutionID

	root := oneSpan(t, exp, "execution search-candidates")
	if root.Parent.IsValid() || attr(root, "weft.execution.id").AsString() != id || attr(root, "weft.execution.status").AsString() != "completed" ||
		attr(root, "weft.workspace").AsString() != "acme" || attr(root, "weft.resumed").AsBool() {
		t.Fatalf("execution span: parent %v, attributes %v", root.Parent, root.Attributes)
	}
	task := spansNamed(exp, "task ")
	llm := spansNamed(exp, "chat ")
	tool := oneSpan(t, exp, "execute_tool rank-candidates")
	if len(task) != 1 || len(llm) != 2 {
		t.Fatalf("spans: %v", spanNames(exp))
	}
	for _, s := range append(append(task, llm...), tool) {
		childOf(t, s, root)
		if attr(s, "weft.step.id").AsString() == "" || s.Status.Code == codes.Error {
			t.Fatalf("step span %q: %v, status %v", s.Name, s.Attributes, s.Status)
		}
	}
	for _, s := range llm {
		if attr(s, "gen_ai.operation.name").AsString() != "chat" || attr(s, "gen_ai.provider.name").AsString() == "" ||
			attr(s, "gen_ai.request.model").AsString() == "" || attr(s, "gen_ai.usage.input_tokens").AsInt64() <= 0 ||
			attr(s, "gen_ai.usage.output_tokens").AsInt64() <= 0 {
			t.Fatalf("LLM span attributes: %v", s.Attributes)
		}
	}
	if attr(tool, "gen_ai.tool.name").AsString() != "rank-candidates" {
		t.Fatalf("tool span attributes: %v", tool.Attributes)
	}
	if !root.StartTime.Before(task[0].StartTime) || root.EndTime.Before(tool.EndTime) {
		t.Fatalf("execution span %s-%s does not hold its steps", root.StartTime, root.EndTime)
	}
}

// A traceparent in the start's metadata makes the execution's span its
// child: the app's trace goes on into the workflow. A malformed one is
// ignored.
func TestTracingContinuesTheStartersTrace(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	ts, exp := tracedServer(t, "", nil)
	c := dial(t, ts, adminToken)
	for _, tc := range []struct{ name, traceparent string }{
		{"valid", "00-" + traceID + "-" + spanID + "-01"},
		{"malformed", "00-nothex-" + spanID + "-01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			c.request("run", "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{},
				"metadata": map[string]any{"traceparent": tc.traceparent, "tracestate": "vendor=x"}})
			c.readUntilComplete("run")
			root := oneSpan(t, exp, "execution echo")
			continued := root.SpanContext.TraceID().String() == traceID && root.Parent.SpanID().String() == spanID && root.Parent.IsRemote()
			if continued != (tc.name == "valid") {
				t.Fatalf("execution span: trace %s, parent %s", root.SpanContext.TraceID(), root.Parent.SpanID())
			}
			if tc.name == "valid" && root.SpanContext.TraceState().Get("vendor") != "x" {
				t.Fatalf("tracestate = %q", root.SpanContext.TraceState())
			}
			childOf(t, oneSpan(t, exp, "task echo"), root)
		})
	}
}

// Attempts are span events of their step's span; a step and an execution
// that fail record the error.
func TestTracingAttemptsAndErrors(t *testing.T) {
	ts, exp := tracedServer(t, "", nil)
	c := dial(t, ts, adminToken)

	startAndCollect(t, c, "retried", "flaky", map[string]any{"fail_times": 2})
	task := oneSpan(t, exp, "task flaky")
	if got := eventNames(task); !slices.Equal(got, []string{"retry", "attempt", "retry", "attempt"}) {
		t.Fatalf("task span events = %v", got)
	}
	if attr(task, "weft.step.attempts").AsInt64() != 3 || task.Status.Code == codes.Error {
		t.Fatalf("retried task: %v, status %v", task.Attributes, task.Status)
	}

	exp.Reset()
	startAndCollect(t, c, "failed", "approval", map[string]any{"timeout_ms": 50})
	wait := oneSpan(t, exp, "signal approve")
	root := oneSpan(t, exp, "execution approval")
	for _, s := range []tracetest.SpanStub{wait, root} {
		if s.Status.Code != codes.Error || attr(s, "error.type").AsString() != "SIGNAL_TIMEOUT" || !slices.Contains(eventNames(s), "exception") {
			t.Fatalf("span %q: status %v, attributes %v, events %v", s.Name, s.Status, s.Attributes, eventNames(s))
		}
	}
	childOf(t, wait, root)
}

// A child workflow is a span under its parent's, holding its own steps;
// a sleep is a span too.
func TestTracingChildWorkflowsAndSleeps(t *testing.T) {
	ts, exp := tracedServer(t, "", nil, func(reg *workflows.Registry) {
		workflows.Register(reg, "parent", func(ctx workflows.Context, _ struct{}) (string, error) {
			if _, err := workflows.Child[map[string]any](ctx, "echo", map[string]any{"a": 1}); err != nil {
				return "", err
			}
			return workflows.Child[string](ctx, "nap", map[string]any{"seconds": 0.05})
		})
	})
	c := dial(t, ts, adminToken)
	startAndCollect(t, c, "run", "parent", map[string]any{})
	root := oneSpan(t, exp, "execution parent")
	echo, nap := oneSpan(t, exp, "workflow echo"), oneSpan(t, exp, "workflow nap")
	childOf(t, echo, root)
	childOf(t, nap, root)
	childOf(t, oneSpan(t, exp, "task echo"), echo)
	sleep := oneSpan(t, exp, "sleep")
	childOf(t, sleep, nap)
	if attr(sleep, "weft.step.id").AsString() != "2.1" || attr(sleep, "weft.wake_at").AsString() == "" {
		t.Fatalf("sleep span: %v", sleep.Attributes)
	}
}

// A cancel ends the execution's span with a "cancelled" event and the
// interrupted step's span in error.
func TestTracingCancel(t *testing.T) {
	ts, exp := tracedServer(t, "", nil, registerHanging)
	c := dial(t, ts, adminToken)
	id := startAndWaitFor(t, c, "hang-child", map[string]int{"task_start": 1})
	c.call("cancel", "execution.cancel", map[string]any{"execution_id": id, "reason": "enough"})
	c.readUntilComplete("run")
	root := oneSpan(t, exp, "execution hang-child")
	if attr(root, "weft.execution.status").AsString() != "cancelled" || !slices.Contains(eventNames(root), "cancelled") {
		t.Fatalf("execution span: %v %v", root.Attributes, eventNames(root))
	}
	inner := oneSpan(t, exp, "task inner")
	if inner.Status.Code != codes.Error || attr(inner, "error.type").AsString() != "CANCELLED" {
		t.Fatalf("interrupted task span: %v %v", inner.Status, inner.Attributes)
	}
}

// An execution that resumes after a restart is a new span, linked to the
// trace it started in; the actor that stopped ended its span, and the
// sleep shows its end from the resume.
func TestTracingResumedExecution(t *testing.T) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	dir := t.TempDir()
	ts, exp := tracedServer(t, dir, nil)
	c := dial(t, ts, adminToken)
	c.request("run", "workflow.start", map[string]any{"name": "nap", "parameters": map[string]any{"seconds": 1.5},
		"metadata": map[string]any{"traceparent": traceparent}})
	for f := c.read(); f.Type != "timer_started"; f = c.read() {
	}
	ts.stop(t)
	first := oneSpan(t, exp, "execution nap")
	if attr(first, "weft.execution.status").AsString() == "completed" || !slices.Contains(eventNames(first), "stopped") {
		t.Fatalf("first span: %v %v", first.Attributes, eventNames(first))
	}
	if slept := oneSpan(t, exp, "sleep"); attr(slept, "weft.interrupted").AsBool() != true {
		t.Fatalf("sleep span of the stopped server: %v", slept.Attributes)
	}

	ts2, exp2 := tracedServer(t, dir, nil)
	c2 := dial(t, ts2, adminToken)
	c2.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": attr(first, "weft.execution.id").AsString()})
	resumed := oneSpan(t, exp2, "execution nap")
	if !attr(resumed, "weft.resumed").AsBool() || resumed.Parent.IsValid() || len(resumed.Links) != 1 ||
		resumed.Links[0].SpanContext.SpanID() != first.Parent.SpanID() || attr(resumed, "weft.execution.status").AsString() != "completed" {
		t.Fatalf("resumed span: parent %v, links %v, attributes %v", resumed.Parent, resumed.Links, resumed.Attributes)
	}
	sleep := oneSpan(t, exp2, "sleep")
	childOf(t, sleep, resumed)
	if !attr(sleep, "weft.resumed").AsBool() {
		t.Fatalf("sleep span after the restart: %v", sleep.Attributes)
	}
}

// Without a TracerProvider weft traces nothing, not even through the
// global provider an application may have set.
func TestTracingIsOffByDefault(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	global := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(global)

	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	startAndCollect(t, c, "run", "search-candidates", map[string]any{"user_query": "go", "organization_id": "org_1"})
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Fatalf("weft recorded %d spans without a TracerProvider: %v", len(spans), spanNames(exp))
	}
}
