package actors

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// Service is the one implementation of every capability; the WebSocket and
// HTTP adapters decode, call it with the caller's identity, and encode. It
// checks the scope and the workspace, so adapters never do.
type Service struct {
	sys     *System
	info    ServerInfo
	started time.Time
	aud     auditState // audit.go
}

// ServerInfo is the answer of server.info.
type ServerInfo struct {
	Name     string         `json:"name"`
	Version  string         `json:"version"`
	Protocol string         `json:"protocol"`
	Build    map[string]any `json:"build,omitempty"`
	Limits   map[string]any `json:"limits,omitempty"`
	// Node is this node's id in a cluster (weft serve --node-id; absent
	// on a single node).
	Node string `json:"node,omitempty"`
}

// NewService returns the service facade over a running System.
func NewService(sys *System, info ServerInfo) *Service {
	s := &Service{sys: sys, info: info, started: time.Now()}
	sys.env.Messenger = s // workflows reach sockets through the service
	return s
}

// Info answers server.info (no scope needed).
func (s *Service) Info() ServerInfo { return s.info }

// WorkflowInfo describes one registered workflow.
type WorkflowInfo struct {
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	ParametersSchema json.RawMessage `json:"parameters_schema"`
}

// ListWorkflows answers workflow.list.
func (s *Service) ListWorkflows(who weft.Identity) ([]WorkflowInfo, error) {
	if err := who.Require(weft.ScopeWorkflowsRead); err != nil {
		return nil, err
	}
	defs := s.sys.registry.Definitions()
	out := make([]WorkflowInfo, len(defs))
	for i, d := range defs {
		out[i] = WorkflowInfo{Name: d.Name(), Description: d.Description(), ParametersSchema: d.ParametersSchema()}
	}
	return out, nil
}

// StartRequest is the request of workflow.start.
type StartRequest struct {
	Name           string          `json:"name"`
	Parameters     json.RawMessage `json:"parameters"`
	Metadata       json.RawMessage `json:"metadata"`
	IdempotencyKey string          `json:"idempotency_key"`
	// ConnectionID is the socket the start came from (set by the adapter,
	// not the client): workflows can answer it with workflows.Send.
	ConnectionID string `json:"-"`
}

// StartResult answers workflow.start.
type StartResult struct {
	ExecutionID string      `json:"execution_id"`
	Status      weft.Status `json:"status"`
	// Existing is true when an idempotency key matched an earlier start.
	Existing bool `json:"-"`
}

const maxIdempotencyKey = 256

// Start validates and durably records a new execution, then spawns its
// actor. It returns once the execution record and execution_started are
// fsynced: an acknowledged start is never lost.
func (s *Service) Start(ctx context.Context, who weft.Identity, req StartRequest) (started StartResult, auditErr error) {
	defer func() { s.audited(ctx, who, "workflow.start", cmp.Or(started.ExecutionID, req.Name), &auditErr) }()
	return s.start(ctx, who, req, "")
}

// start is Start without its audit record. id is "" but for a start
// forwarded from another node (Control), which drew it.
func (s *Service) start(ctx context.Context, who weft.Identity, req StartRequest, id string) (StartResult, error) {
	if err := who.Require(weft.ScopeWorkflowsStart); err != nil {
		return StartResult{}, err
	}
	if req.Name == "" {
		return StartResult{}, weft.Errorf(weft.CodeInvalidRequest, "name is required")
	}
	if s.sys.draining() {
		return StartResult{}, weft.Errorf(weft.CodeUnavailable, "server is shutting down")
	}
	def, ok := s.sys.registry.Lookup(req.Name)
	if !ok {
		return StartResult{}, weft.Errorf(weft.CodeWorkflowNotFound, "no workflow named %q", req.Name)
	}
	params, err := objectOrEmpty("parameters", req.Parameters)
	if err != nil {
		return StartResult{}, err
	}
	meta, err := objectOrEmpty("metadata", req.Metadata)
	if err != nil {
		return StartResult{}, err
	}
	if err := def.Validate(params); err != nil {
		return StartResult{}, err // INVALID_REQUEST naming the field: "parameters.steps: must be <= 100000"
	}
	if len(req.IdempotencyKey) > maxIdempotencyKey {
		return StartResult{}, weft.Errorf(weft.CodeInvalidRequest, "idempotency_key longer than %d", maxIdempotencyKey)
	}
	if err := s.writable(); err != nil {
		return StartResult{}, err
	}
	limits := def.Concurrency()
	if id == "" {
		var forward bool
		if id, forward, err = s.sys.startID(req.Name, limits); err != nil {
			return StartResult{}, err
		}
		if forward { // cluster mode: the workflow's limits are held where it runs
			return s.startRemote(ctx, who, req, id)
		}
	}
	now := time.Now().UTC()
	exec := persistence.Execution{
		ID:             id,
		Workspace:      who.Workspace,
		Workflow:       req.Name,
		Status:         weft.StatusRunning,
		Parameters:     params,
		Metadata:       meta,
		StartedBy:      who.Name,
		ConnectionID:   req.ConnectionID,
		Version:        def.Version(),
		IdempotencyKey: req.IdempotencyKey,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if err := s.sys.unfinished.reserve(exec.Workspace, exec.ID); err != nil {
		return StartResult{}, err
	}
	if limits.Limited() {
		run, err := s.admit(ctx, exec.ID, exec.Workflow, limits.KeyOf(params))
		if err != nil {
			s.sys.unfinished.release(exec.ID)
			return StartResult{}, err
		}
		if !run {
			exec.Status = weft.StatusQueued
		}
	}
	first := events.New(events.ExecutionStarted, events.ExecutionStartedDetails{Parameters: params, Metadata: meta})
	first.Data = events.Data{Timestamp: now, ExecutionID: exec.ID, Workflow: exec.Workflow, Seq: 1, Details: first.Data.Details}
	existing, err := s.sys.store.CreateExecution(ctx, exec, first)
	if err != nil || existing != nil {
		s.sys.unfinished.release(exec.ID)
		if limits.Limited() {
			s.sys.actors.Root.Send(s.sys.executions, &releaseSlot{id: exec.ID})
		}
	}
	if err != nil {
		return StartResult{}, storeError(err)
	}
	if existing != nil {
		if !sameJSON(existing.Parameters, params) {
			return StartResult{}, weft.Errorf(weft.CodeConflict, "idempotency key %q was used with other parameters", req.IdempotencyKey)
		}
		return StartResult{ExecutionID: existing.ID, Status: existing.Status, Existing: true}, nil
	}
	s.sys.metrics.ExecutionsStarted.WithLabelValues(exec.Workflow).Inc()
	if exec.Status == weft.StatusQueued {
		s.sys.actors.Root.Send(s.sys.executions, &queuedCreated{exec: exec})
	} else {
		s.sys.actors.Root.Send(s.sys.executions, &startExecution{exec: exec, fresh: true})
	}
	return StartResult{ExecutionID: exec.ID, Status: exec.Status}, nil
}

// admit asks the executions supervisor for a concurrency slot.
func (s *Service) admit(ctx context.Context, id, workflow, key string) (bool, error) {
	reply := make(chan bool, 1)
	return ask(ctx, s, s.sys.executions, &admitExecution{id: id, workflow: workflow, key: key, reply: reply}, reply)
}

// visibleExecution loads an execution the caller may see. Another
// workspace's execution answers as if it did not exist.
func (s *Service) visibleExecution(ctx context.Context, who weft.Identity, id string) (persistence.Execution, error) {
	if id == "" {
		return persistence.Execution{}, weft.Errorf(weft.CodeInvalidRequest, "execution_id is required")
	}
	exec, err := s.sys.store.Execution(ctx, id)
	if errors.Is(err, persistence.ErrNotFound) || (err == nil && exec.Workspace != who.Workspace) {
		return persistence.Execution{}, weft.Errorf(weft.CodeExecutionNotFound, "no execution %q", id)
	}
	if err != nil {
		return persistence.Execution{}, weft.Internal(err)
	}
	return exec, nil
}

// objectOrEmpty checks that raw is a JSON object (or absent: {}).
func objectOrEmpty(field string, raw json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return json.RawMessage("{}"), nil
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return nil, weft.Errorf(weft.CodeInvalidRequest, "%s must be a JSON object", field)
	}
	return json.RawMessage(trimmed), nil
}

// sameJSON compares two JSON documents by value, not by spelling.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}
