package actors

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

// Snapshot is an execution as execution.get and executions.list show it.
// execution.get always carries steps as an array ([] before the first
// step); list items leave them out (a nil Steps is omitted, an empty one
// is not).
type Snapshot struct {
	ExecutionID string             `json:"execution_id"`
	Status      weft.Status        `json:"status"`
	Workflow    string             `json:"workflow"`
	Parameters  json.RawMessage    `json:"parameters"`
	Metadata    json.RawMessage    `json:"metadata"`
	Result      json.RawMessage    `json:"result,omitempty"`
	Error       *events.ErrorInfo  `json:"error,omitempty"`
	Steps       []persistence.Step `json:"steps,omitzero"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
	LastSeq     uint64             `json:"last_seq"`
}

func snapshotOf(e persistence.Execution) Snapshot {
	return Snapshot{
		ExecutionID: e.ID, Status: e.Status, Workflow: e.Workflow,
		Parameters: e.Parameters, Metadata: e.Metadata, Result: e.Result, Error: e.Error,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, LastSeq: e.LastSeq,
	}
}

// GetExecution answers execution.get, with the execution's steps in order.
func (s *Service) GetExecution(ctx context.Context, who weft.Identity, id string) (Snapshot, error) {
	if err := who.Require(weft.ScopeExecutionsRead); err != nil {
		return Snapshot{}, err
	}
	exec, err := s.visibleExecution(ctx, who, id)
	if err != nil {
		return Snapshot{}, err
	}
	steps, err := s.sys.store.Steps(ctx, id)
	if err != nil {
		return Snapshot{}, weft.Internal(err)
	}
	snap := snapshotOf(exec)
	snap.Steps = make([]persistence.Step, 0, len(steps))
	for _, st := range steps {
		snap.Steps = append(snap.Steps, st)
	}
	slices.SortFunc(snap.Steps, func(a, b persistence.Step) int { return workflows.CompareStepIDs(a.ID, b.ID) })
	return snap, nil
}

// ListRequest is the request of executions.list.
type ListRequest struct {
	Status         weft.Status `json:"status"`
	Workflow       string      `json:"workflow"`
	IdempotencyKey string      `json:"idempotency_key"`
	// CreatedAfter and CreatedBefore are RFC 3339 times ("" = no bound):
	// created_at >= CreatedAfter and < CreatedBefore. They are strings so
	// that both surfaces refuse a bad time with the same message.
	CreatedAfter  string `json:"created_after"`
	CreatedBefore string `json:"created_before"`
	// Metadata keeps the executions whose metadata has each key with the
	// value: a string equal to it, or another JSON value spelt so
	// (persistence.ListFilter.MatchMetadata).
	Metadata map[string]string `json:"metadata,omitempty"`
	Limit    int               `json:"limit"`
	Cursor   string            `json:"cursor"`
}

// Bounds of executions.list's metadata filter.
const (
	maxMetadataFilterKeys = 16
	maxMetadataFilterLen  = 1024 // bytes of a key or a value
)

// ListResult answers executions.list.
type ListResult struct {
	Items      []Snapshot `json:"items"`
	NextCursor string     `json:"next_cursor"`
}

// ListExecutions answers executions.list, newest first, within the
// caller's workspace.
func (s *Service) ListExecutions(ctx context.Context, who weft.Identity, req ListRequest) (ListResult, error) {
	if err := who.Require(weft.ScopeExecutionsRead); err != nil {
		return ListResult{}, err
	}
	if req.Status != "" && !req.Status.Valid() {
		return ListResult{}, weft.Errorf(weft.CodeInvalidRequest, "unknown status %q", req.Status)
	}
	if req.Limit < 0 || req.Limit > 1000 {
		return ListResult{}, weft.Errorf(weft.CodeInvalidRequest, "limit must be between 1 and 1000")
	}
	after, err := listTime("created_after", req.CreatedAfter)
	if err != nil {
		return ListResult{}, err
	}
	before, err := listTime("created_before", req.CreatedBefore)
	if err != nil {
		return ListResult{}, err
	}
	if len(req.Metadata) > maxMetadataFilterKeys {
		return ListResult{}, weft.Errorf(weft.CodeInvalidRequest, "metadata filter of %d keys (at most %d)", len(req.Metadata), maxMetadataFilterKeys)
	}
	for k, v := range req.Metadata {
		if k == "" || len(k) > maxMetadataFilterLen || len(v) > maxMetadataFilterLen {
			return ListResult{}, weft.Errorf(weft.CodeInvalidRequest, "metadata filter keys must be 1 to %d bytes, values at most %d", maxMetadataFilterLen, maxMetadataFilterLen)
		}
	}
	items, next, err := s.sys.store.List(ctx, persistence.ListFilter{
		Workspace: who.Workspace, Status: req.Status, Workflow: req.Workflow, IdempotencyKey: req.IdempotencyKey,
		CreatedAfter: after, CreatedBefore: before, Metadata: req.Metadata, Limit: req.Limit, Cursor: req.Cursor,
	})
	if err != nil {
		if errors.Is(err, persistence.ErrInvalid) {
			return ListResult{}, weft.Errorf(weft.CodeInvalidRequest, "invalid cursor")
		}
		return ListResult{}, weft.Internal(err)
	}
	out := ListResult{Items: make([]Snapshot, len(items)), NextCursor: next}
	for i, e := range items {
		out.Items[i] = snapshotOf(e)
	}
	return out, nil
}

// listTime reads an executions.list time bound: "" is none, anything else
// must be an RFC 3339 time (INVALID_REQUEST naming the field otherwise).
func listTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, weft.Errorf(weft.CodeInvalidRequest, "%s must be an RFC 3339 time (like 2026-01-10T12:00:00Z), not %q", field, v)
	}
	return t, nil
}
