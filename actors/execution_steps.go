package actors

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

// Open steps: the execution actor follows which steps have started and not
// ended, from the events it sequences, so that a cancel or a timeout can
// close each of them with an event before the execution's terminal one
// (a stream then never leaves a step hanging). The tracing (tracing.go)
// reads the same decoded details.

// stepDetails is what the actor reads of a step event's details: the
// union of the fields of events.TaskDetails, LLMDetails, ToolDetails,
// WorkflowDetails, SignalDetails and TimerDetails it needs.
type stepDetails struct {
	StepID    string            `json:"step_id"`
	Name      string            `json:"name"`
	Tool      string            `json:"tool"`
	Attempt   int               `json:"attempt"`
	Provider  string            `json:"provider"`
	Model     string            `json:"model"`
	Usage     *events.Usage     `json:"usage"`
	Error     *events.ErrorInfo `json:"error"`
	WillRetry *bool             `json:"will_retry"`
	RetryInMS *int64            `json:"retry_in_ms"`
	WakeAt    time.Time         `json:"wake_at"`
	Signal    string            `json:"signal"`
}

// stepKinds maps the events that open or close a step to the step's kind
// as checkpoints name it.
var stepKinds = map[events.Type]string{
	events.TaskStart: "task", events.TaskEnd: "task", events.TaskError: "task",
	events.LLMStart: "llm", events.LLMEnd: "llm", events.LLMError: "llm",
	events.ToolStart: "tool", events.ToolEnd: "tool", events.ToolError: "tool",
}

// decodeStepDetails reads the details of an event the actor follows. Our
// own events always decode; one that does not is left unfollowed.
func decodeStepDetails(e events.Event) (stepDetails, bool) {
	var d stepDetails
	if err := json.Unmarshal(e.Data.Details, &d); err != nil {
		return stepDetails{}, false
	}
	return d, true
}

// openStep is a step that has started and not ended: running, or waiting
// to retry.
type openStep struct {
	kind    string // task, llm, tool or workflow (a child)
	name    string // the task's, LLM step's, tool's or child workflow's
	attempt int
}

// openSteps are the open steps of an execution by step id.
type openSteps map[string]openStep

// seed opens the steps that earlier actors of the execution left open
// (a retry wait, a child workflow): the checkpoints pending at the first
// run. Steps that were running then are run again and seen starting.
func (o openSteps) seed(recorded map[string]persistence.Step) {
	for id, st := range recorded {
		if !st.Pending() {
			continue
		}
		switch st.Kind {
		case "task", "llm", "tool", "workflow":
			o[id] = openStep{kind: st.Kind, name: st.Name, attempt: st.Attempts}
		}
	}
}

// follows reports whether events of type t open or close a step.
func (o openSteps) follows(t events.Type) bool {
	_, step := stepKinds[t]
	return step || t == events.WorkflowStart || t == events.WorkflowEnd || t == events.WorkflowError
}

// observe updates the open steps with one sequenced event.
func (o openSteps) observe(t events.Type, d stepDetails) {
	if d.StepID == "" {
		return // the root workflow's own workflow_start / _end
	}
	switch t {
	case events.TaskStart, events.LLMStart, events.ToolStart:
		o[d.StepID] = openStep{kind: stepKinds[t], name: cmp.Or(d.Name, d.Tool), attempt: d.Attempt}
	case events.WorkflowStart:
		o[d.StepID] = openStep{kind: "workflow", name: d.Name}
	case events.TaskError, events.LLMError, events.ToolError:
		if d.WillRetry == nil || !*d.WillRetry {
			delete(o, d.StepID)
		} // else it waits to retry: still open
	case events.TaskEnd, events.LLMEnd, events.ToolEnd, events.WorkflowEnd, events.WorkflowError:
		delete(o, d.StepID)
	}
}

// close returns the events that end every open step with info, the
// innermost first (a child's steps before the child), and forgets them.
func (o openSteps) close(info events.ErrorInfo) []events.Event {
	ids := make([]string, 0, len(o))
	for id := range o {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return workflows.CompareStepIDs(b, a) })
	out := make([]events.Event, 0, len(ids))
	for _, id := range ids {
		out = append(out, closingEvent(id, o[id], info))
		delete(o, id)
	}
	return out
}

// closingEvent is the error event of the open step's kind, not retried.
func closingEvent(id string, st openStep, info events.ErrorInfo) events.Event {
	no, zero := false, int64(0)
	switch st.kind {
	case "task":
		return events.New(events.TaskError, events.TaskDetails{StepID: id, Name: st.name, Attempt: st.attempt, Error: &info, WillRetry: &no, RetryInMS: &zero})
	case "llm":
		return events.New(events.LLMError, events.LLMDetails{StepID: id, Error: &info, WillRetry: &no})
	case "tool":
		return events.New(events.ToolError, events.ToolDetails{StepID: id, Tool: st.name, Error: &info, WillRetry: &no})
	default:
		return events.New(events.WorkflowError, events.WorkflowDetails{Name: st.name, StepID: id, Error: &info})
	}
}

// cancelledStep is how a cancel shows on the steps it interrupts:
// "cancelled: <reason>" (the reason alone when it already says so, as the
// default "cancelled by <identity>" does).
func cancelledStep(reason string) events.ErrorInfo {
	msg := "cancelled"
	switch {
	case strings.HasPrefix(strings.ToLower(reason), "cancelled"):
		msg = reason
	case reason != "":
		msg += ": " + reason
	}
	return events.ErrorInfo{Message: msg, Code: events.CodeCancelled}
}
