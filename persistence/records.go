package persistence

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/checkpoint"
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

// Step is a step's checkpoint (package checkpoint, where the developer
// API meets it without importing a store).
type Step = checkpoint.Step

// StatePending marks a step that has started and is waiting.
const StatePending = checkpoint.StatePending

// Signal is a message sent to an execution, kept until a step consumes it.
type Signal = checkpoint.Signal

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
	// Metadata keeps only the executions whose metadata has each of these
	// keys with this value (MatchMetadata); nil = any.
	Metadata map[string]string
	Limit    int    // <= 0: 100; capped at 1000
	Cursor   string // opaque, from a previous page's next cursor
}
