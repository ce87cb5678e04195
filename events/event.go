package events

import (
	"encoding/json"
	"time"
)

// Type names an event on the wire.
type Type string

// Event types of PROTOCOL.md section 5.
const (
	ExecutionStarted   Type = "execution_started"
	ExecutionCompleted Type = "execution_completed"
	ExecutionFailed    Type = "execution_failed"
	ExecutionCancelled Type = "execution_cancelled"
	WorkflowStart      Type = "workflow_start"
	WorkflowEnd        Type = "workflow_end"
	WorkflowError      Type = "workflow_error"
	TaskStart          Type = "task_start"
	TaskEnd            Type = "task_end"
	TaskError          Type = "task_error"
	LLMStart           Type = "llm_start"
	LLMDelta           Type = "llm_delta"
	LLMEnd             Type = "llm_end"
	LLMError           Type = "llm_error"
	ToolStart          Type = "tool_start"
	ToolEnd            Type = "tool_end"
	ToolError          Type = "tool_error"
	SignalWaiting      Type = "signal_waiting"
	SignalReceived     Type = "signal_received"
	TimerStarted       Type = "timer_started"    // a durable sleep began (workflows.Sleep)
	TimerFired         Type = "timer_fired"      // a durable sleep woke, or a signal wait's timeout passed
	ArtifactCreated    Type = "artifact_created" // a workflow stored an artifact (workflows.PutArtifact)
)

// Terminal reports whether t ends an execution's stream.
func (t Type) Terminal() bool {
	return t == ExecutionCompleted || t == ExecutionFailed || t == ExecutionCancelled
}

// Event is one entry of an execution's log. Its JSON form is the wire's
// `{"type":...,"data":{...}}`, which is also how the store keeps it and how
// the HTTP history lists it.
type Event struct {
	Type Type `json:"type"`
	Data Data `json:"data"`
}

// Data is an event's `data` object.
type Data struct {
	Timestamp   time.Time       `json:"timestamp"`
	ExecutionID string          `json:"execution_id"`
	Workflow    string          `json:"workflow"`
	Seq         uint64          `json:"seq"`
	Details     json.RawMessage `json:"details,omitempty"`
	Replay      bool            `json:"replay,omitempty"`
}

// Seq is shorthand for e.Data.Seq.
func (e Event) Seq() uint64 { return e.Data.Seq }

// New builds an event (seq and timestamp unset: the execution actor assigns
// them) with details encoded as JSON.
func New(t Type, details any) Event {
	raw, err := json.Marshal(details)
	if err != nil {
		// Details are our own structs; failing to encode one is a bug.
		panic("events: encode details of " + string(t) + ": " + err.Error())
	}
	return Event{Type: t, Data: Data{Details: raw}}
}
