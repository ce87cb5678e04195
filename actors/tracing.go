package actors

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// Tracing (Config.TracerProvider; off when nil, and then nothing here
// runs): the spans are built from the events an execution actor sequences,
// so the run code has no tracing of its own.
//
// One actor's life is one span, "execution <workflow>": from the start
// (created_at) or from the moment the execution resumed (after
// passivation, a restart, a crash, a panic) until it ends or its actor
// stops. The first is a child of the traceparent the start's metadata
// carried; a resumed one is a new root span linked to that traceparent,
// with weft.resumed = true (an execution may resume days later, past any
// trace's window). Each step is a child span of the execution's, or of
// the child workflow it runs in: task, LLM, tool, child workflow, sleep,
// signal wait. Retries are span events of their step's span.

// tracerName is the instrumentation scope of weft's spans.
const tracerName = "github.com/weft-run/weft"

// Attributes of weft's spans (the GenAI ones follow OpenTelemetry's
// semantic conventions).
const (
	attrExecutionID = attribute.Key("weft.execution.id")
	attrWorkflow    = attribute.Key("weft.workflow")
	attrWorkspace   = attribute.Key("weft.workspace")
	attrStatus      = attribute.Key("weft.execution.status")
	attrResumed     = attribute.Key("weft.resumed")
	attrStepID      = attribute.Key("weft.step.id")
	attrStepKind    = attribute.Key("weft.step.kind")
	attrStepName    = attribute.Key("weft.step.name")
	attrAttempts    = attribute.Key("weft.step.attempts")
	attrAttempt     = attribute.Key("weft.attempt")
	attrRetryInMS   = attribute.Key("weft.retry_in_ms")
	attrWakeAt      = attribute.Key("weft.wake_at")
	attrSignal      = attribute.Key("weft.signal")
	attrInterrupted = attribute.Key("weft.interrupted")

	// OpenTelemetry semantic conventions: error.type, and the GenAI ones
	// (gen_ai.*), which the semconv packages of this SDK version no
	// longer carry.
	attrErrorType      = attribute.Key("error.type")
	attrGenAIOperation = attribute.Key("gen_ai.operation.name")
	attrGenAIProvider  = attribute.Key("gen_ai.provider.name")
	attrGenAIModel     = attribute.Key("gen_ai.request.model")
	attrGenAIRespModel = attribute.Key("gen_ai.response.model")
	attrGenAIInput     = attribute.Key("gen_ai.usage.input_tokens")
	attrGenAIOutput    = attribute.Key("gen_ai.usage.output_tokens")
	attrGenAITool      = attribute.Key("gen_ai.tool.name")
)

// execTrace is the spans of one actor's life of an execution.
type execTrace struct {
	tracer  trace.Tracer
	ctx     context.Context // holds the execution span
	span    trace.Span
	started time.Time
	steps   map[string]*stepSpan // open, by step id
}

// stepSpan is one open step's span.
type stepSpan struct {
	ctx      context.Context // holds the span, for the steps inside a child
	span     trace.Span
	attempts int
}

// startTrace begins the span of this actor's life of exec; nil when
// tracing is off.
func startTrace(tracer trace.Tracer, exec persistence.Execution) *execTrace {
	if tracer == nil {
		return nil
	}
	now := time.Now()
	resumed := exec.LastSeq > 1 // more than execution_started is stored
	opts := []trace.SpanStartOption{
		trace.WithAttributes(
			attrExecutionID.String(exec.ID), attrWorkflow.String(exec.Workflow),
			attrWorkspace.String(exec.Workspace), attrResumed.Bool(resumed)),
	}
	ctx := context.Background()
	remote := traceContextFromMetadata(exec.Metadata)
	switch {
	case resumed && remote.IsValid():
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: remote}), trace.WithTimestamp(now))
	case resumed:
		opts = append(opts, trace.WithTimestamp(now))
	default:
		if remote.IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, remote)
		}
		opts = append(opts, trace.WithTimestamp(exec.CreatedAt))
	}
	ctx, span := tracer.Start(ctx, "execution "+exec.Workflow, opts...)
	return &execTrace{tracer: tracer, ctx: ctx, span: span, started: now, steps: map[string]*stepSpan{}}
}

// traceContextFromMetadata reads a W3C traceparent (and tracestate) from
// a start's metadata. Anything missing or malformed gives an invalid
// context: the execution then starts a trace of its own.
func traceContextFromMetadata(metadata json.RawMessage) trace.SpanContext {
	var md struct {
		TraceParent json.RawMessage `json:"traceparent"`
		TraceState  json.RawMessage `json:"tracestate"`
	}
	if len(metadata) == 0 || json.Unmarshal(metadata, &md) != nil {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{}
	for key, raw := range map[string]json.RawMessage{"traceparent": md.TraceParent, "tracestate": md.TraceState} {
		var v string
		if json.Unmarshal(raw, &v) == nil && v != "" {
			carrier[key] = v
		}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), carrier)
	return trace.SpanContextFromContext(ctx)
}

// follows reports whether the trace reads events of type t.
func (t *execTrace) follows(typ events.Type) bool {
	return t != nil && typ != events.LLMDelta
}

// observe turns one sequenced event into span changes.
func (t *execTrace) observe(e events.Event, d stepDetails) {
	at := trace.WithTimestamp(e.Data.Timestamp)
	switch e.Type {
	case events.TaskStart, events.LLMStart, events.ToolStart:
		t.attemptStarted(e.Type, d, at)
	case events.TaskEnd, events.LLMEnd, events.ToolEnd:
		t.stepEnded(d, at, llmAttributes(e.Type, d)...)
	case events.TaskError, events.LLMError, events.ToolError:
		t.attemptFailed(d, at)
	case events.WorkflowStart:
		if d.StepID != "" {
			t.open(d.StepID, "workflow "+d.Name, at, attrStepKind.String("workflow"), attrStepName.String(d.Name))
		}
	case events.WorkflowEnd, events.WorkflowError:
		if d.StepID != "" {
			t.stepEndedWith(d.StepID, d.Error, at)
		}
	case events.TimerStarted:
		t.open(d.StepID, "sleep", at, attrStepKind.String("sleep"), attrWakeAt.String(d.WakeAt.Format(time.RFC3339Nano)))
	case events.SignalWaiting:
		t.open(d.StepID, "signal "+d.Name, at, attrStepKind.String("signal"), attrSignal.String(d.Name))
	case events.TimerFired, events.SignalReceived:
		t.waitEnded(e.Type, d, at)
	case events.ExecutionCompleted, events.ExecutionFailed, events.ExecutionCancelled:
		t.ended(e, at)
	}
}

// attemptStarted opens a step's span at its first attempt, and marks each
// later one with an "attempt" event.
func (t *execTrace) attemptStarted(typ events.Type, d stepDetails, at trace.SpanEventOption) {
	if s := t.steps[d.StepID]; s != nil {
		s.attempts++
		s.span.AddEvent("attempt", at, trace.WithAttributes(attrAttempt.Int(s.attempts)))
		return
	}
	kind := stepKinds[typ]
	attrs := []attribute.KeyValue{attrStepKind.String(kind)}
	name := "task " + d.Name
	switch typ {
	case events.LLMStart:
		name = strings.TrimSpace("chat " + d.Model)
		attrs = append(attrs, attrGenAIOperation.String("chat"), attrGenAIProvider.String(d.Provider), attrGenAIModel.String(d.Model))
	case events.ToolStart:
		name = "execute_tool " + d.Tool
		attrs = append(attrs, attrGenAIOperation.String("execute_tool"), attrGenAITool.String(d.Tool), attrStepName.String(d.Tool))
	default:
		attrs = append(attrs, attrStepName.String(d.Name))
	}
	s := t.open(d.StepID, name, at, attrs...)
	s.attempts = max(d.Attempt, 1)
}

// attemptFailed records a failed attempt: a "retry" event when it will be
// retried, else the step's error, which ends its span.
func (t *execTrace) attemptFailed(d stepDetails, at trace.SpanEventOption) {
	s := t.steps[d.StepID]
	if s == nil || d.WillRetry == nil || !*d.WillRetry {
		t.stepEndedWith(d.StepID, d.Error, at)
		return
	}
	attrs := []attribute.KeyValue{attrAttempt.Int(s.attempts)}
	if d.Error != nil {
		attrs = append(attrs, attribute.String("error.message", d.Error.Message), attrErrorType.String(errorType(d.Error)))
	}
	if d.RetryInMS != nil {
		attrs = append(attrs, attrRetryInMS.Int64(*d.RetryInMS))
	}
	s.span.AddEvent("retry", at, trace.WithAttributes(attrs...))
}

// llmAttributes are the GenAI attributes of llm_end: the model that
// answered and the token usage.
func llmAttributes(typ events.Type, d stepDetails) []attribute.KeyValue {
	if typ != events.LLMEnd {
		return nil
	}
	var attrs []attribute.KeyValue
	if d.Model != "" {
		attrs = append(attrs, attrGenAIRespModel.String(d.Model))
	}
	if d.Usage != nil {
		attrs = append(attrs, attrGenAIInput.Int(d.Usage.PromptTokens), attrGenAIOutput.Int(d.Usage.CompletionTokens))
	}
	return attrs
}

// waitEnded ends a sleep's or a signal wait's span; a timed-out signal
// wait ends in error.
func (t *execTrace) waitEnded(typ events.Type, d stepDetails, at trace.SpanEventOption) {
	var info *events.ErrorInfo
	if typ == events.TimerFired && d.Signal != "" {
		info = &events.ErrorInfo{Message: "no signal " + d.Signal + " in time", Code: "SIGNAL_TIMEOUT"}
	}
	if t.steps[d.StepID] == nil {
		// It began before this actor's life: show its end, from the
		// moment the execution resumed.
		name := "sleep"
		if typ != events.TimerFired || d.Signal != "" {
			// signal_received names its signal in name, a timed-out
			// wait's timer_fired in signal: one of them is empty.
			name = "signal " + d.Name + d.Signal
		}
		t.open(d.StepID, name, trace.WithTimestamp(t.started), attrResumed.Bool(true))
	}
	t.stepEndedWith(d.StepID, info, at)
}

// open starts the span of step id under the span of the innermost open
// step that contains it (a child workflow), or the execution's.
func (t *execTrace) open(id, name string, at trace.SpanEventOption, attrs ...attribute.KeyValue) *stepSpan {
	if old := t.steps[id]; old != nil {
		old.span.End(at) // a step cannot start twice: keep the trace tidy anyway
	}
	ctx := t.ctx
	for parent := id; ; {
		i := strings.LastIndexByte(parent, '.')
		if i < 0 {
			break
		}
		parent = parent[:i]
		if p := t.steps[parent]; p != nil {
			ctx = p.ctx
			break
		}
	}
	attrs = append(attrs, attrStepID.String(id))
	ctx, span := t.tracer.Start(ctx, name, at, trace.WithAttributes(attrs...))
	s := &stepSpan{ctx: ctx, span: span, attempts: 1}
	t.steps[id] = s
	return s
}

// stepEnded ends a step's span as a success.
func (t *execTrace) stepEnded(d stepDetails, at trace.SpanEventOption, attrs ...attribute.KeyValue) {
	s := t.steps[d.StepID]
	if s == nil {
		return
	}
	s.span.SetAttributes(append(attrs, attrAttempts.Int(s.attempts))...)
	s.span.End(at)
	delete(t.steps, d.StepID)
}

// stepEndedWith ends a step's span, in error when info is set.
func (t *execTrace) stepEndedWith(id string, info *events.ErrorInfo, at trace.SpanEventOption) {
	s := t.steps[id]
	if s == nil {
		return
	}
	recordError(s.span, info, at)
	s.span.SetAttributes(attrAttempts.Int(s.attempts))
	s.span.End(at)
	delete(t.steps, id)
}

// ended ends the execution's span with its outcome.
func (t *execTrace) ended(e events.Event, at trace.SpanEventOption) {
	var end events.ExecutionEndDetails
	_ = json.Unmarshal(e.Data.Details, &end)
	t.endSteps(at)
	status := strings.TrimPrefix(string(e.Type), "execution_")
	t.span.SetAttributes(attrStatus.String(status))
	switch e.Type {
	case events.ExecutionFailed:
		recordError(t.span, end.Error, at)
	case events.ExecutionCancelled:
		t.span.AddEvent("cancelled", at, trace.WithAttributes(attribute.String("weft.reason", end.Reason)))
	}
	t.span.End(at)
}

// stop ends the span of an actor's life that ends before its execution
// does (passivated, server stopping, restarted after a panic): the steps
// still open end interrupted.
func (t *execTrace) stop(status, why string) {
	if t == nil {
		return
	}
	at := trace.WithTimestamp(time.Now())
	t.endSteps(at)
	t.span.AddEvent(why, at)
	t.span.SetAttributes(attrStatus.String(status))
	t.span.End(at)
}

// endSteps ends every open step's span as interrupted.
func (t *execTrace) endSteps(at trace.SpanEventOption) {
	for id, s := range t.steps {
		s.span.SetAttributes(attrInterrupted.Bool(true), attrAttempts.Int(s.attempts))
		s.span.End(at)
		delete(t.steps, id)
	}
}

// recordError marks span failed with info (nothing when info is nil).
func recordError(span trace.Span, info *events.ErrorInfo, at trace.SpanEventOption) {
	if info == nil {
		return
	}
	span.RecordError(errors.New(info.Message), at, trace.WithAttributes(attrErrorType.String(errorType(info))))
	span.SetAttributes(attrErrorType.String(errorType(info)))
	span.SetStatus(codes.Error, info.Message)
}

// errorType is error.type: the error's code, or "error" when it has none.
func errorType(info *events.ErrorInfo) string {
	if info.Code != "" {
		return info.Code
	}
	return "error"
}
