package persistence

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
)

// ErrNotFound is returned by reads of an execution that does not exist.
var ErrNotFound = errors.New("persistence: not found")

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("persistence: store closed")

// Execution is the durable record of one execution.
type Execution struct {
	ID             string            `json:"execution_id"`
	Workspace      string            `json:"workspace"`
	Workflow       string            `json:"workflow"`
	Status         weft.Status       `json:"status"`
	Parameters     json.RawMessage   `json:"parameters"`
	Metadata       json.RawMessage   `json:"metadata"`
	Result         json.RawMessage   `json:"result,omitempty"`
	Error          *events.ErrorInfo `json:"error,omitempty"`
	StartedBy      string            `json:"started_by,omitempty"`
	ConnectionID   string            `json:"connection_id,omitempty"` // the socket that started it, if any
	Version        string            `json:"version,omitempty"`       // the workflow code version it started on
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	// LastSeq is not stored in the record: reads fill it from the event log.
	LastSeq uint64 `json:"last_seq"`
}

// Step is the checkpoint of one completed step: what a re-run of the
// workflow returns instead of running the step again.
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

// StatusUpdate changes an execution record in the same commit as the events
// that go with it (e.g. execution_completed and status completed).
type StatusUpdate struct {
	Status weft.Status
	Result json.RawMessage
	Error  *events.ErrorInfo
	At     time.Time
	// WakeAt is when a wait ends, for Status waiting (zero: no deadline);
	// it goes to the waiting index (waiting.go) in the same commit.
	WakeAt time.Time
}

// Write is one unit of work for the group-commit writer: events appended to
// one execution's log, step checkpoints, and optionally a status change. All
// of it commits atomically, and the writer packs many Writes into one bbolt
// transaction and one fsync.
type Write struct {
	ExecutionID string
	Events      []events.Event // seqs must continue the log: each is last+1
	Steps       []Step
	Status      *StatusUpdate
	// ConsumeSignals removes these signals (by seq) from the inbox, in the
	// same commit as the step that received them.
	ConsumeSignals []uint64
}

// ListFilter selects executions for List. Workspace is required.
type ListFilter struct {
	Workspace string
	Status    weft.Status // "" = any
	Workflow  string      // "" = any
	// IdempotencyKey keeps only the executions started with this key (one
	// per workflow at most); "" = any.
	IdempotencyKey string
	CreatedAfter   time.Time // zero = no bound; otherwise CreatedAt >= it
	CreatedBefore  time.Time // zero = no bound; otherwise CreatedAt < it
	Limit          int       // <= 0: 100; capped at 1000
	Cursor         string    // opaque, from a previous page's next cursor
}
