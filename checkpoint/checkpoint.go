package checkpoint

import (
	"encoding/json"
	"time"

	"github.com/weft-run/weft/events"
)

// Step is the checkpoint of one step: what a re-run of the workflow
// returns instead of running the step again, or, while the step waits,
// where the wait stands.
type Step struct {
	ID          string            `json:"step_id"`
	Kind        string            `json:"kind"` // task, llm, tool, sleep, signal, child...
	Name        string            `json:"name"`
	Output      json.RawMessage   `json:"output,omitempty"`
	Error       *events.ErrorInfo `json:"error,omitempty"` // a step that failed for good
	Attempts    int               `json:"attempts"`
	StartedAt   time.Time         `json:"started_at"`
	CompletedAt time.Time         `json:"completed_at,omitzero"`
	// State is "" for a completed step and StatePending for one that has
	// started and waits (a timer, a signal, a retry backoff). A pending
	// step is not a result: a re-run resumes the wait where it was.
	State  string    `json:"state,omitempty"`
	WakeAt time.Time `json:"wake_at,omitzero"` // when a pending wait ends (zero: no deadline)
	Signal string    `json:"signal,omitempty"` // the signal a pending step waits for
}

// StatePending marks a step that has started and is waiting.
const StatePending = "pending"

// Pending reports whether the step is waiting rather than completed.
func (s Step) Pending() bool { return s.State == StatePending }

// Signal is a message sent to an execution, kept until a step consumes it.
type Signal struct {
	Seq        uint64          `json:"seq"`
	Name       string          `json:"name"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
}
