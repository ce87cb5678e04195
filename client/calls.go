package client

import (
	"context"
	"encoding/json"
	"time"
)

// Snapshot is an execution's state (execution.get).
type Snapshot struct {
	ExecutionID string          `json:"execution_id"`
	Status      string          `json:"status"`
	Workflow    string          `json:"workflow"`
	Parameters  json.RawMessage `json:"parameters"`
	Metadata    json.RawMessage `json:"metadata"`
	Result      json.RawMessage `json:"result,omitempty"`
	Error       *struct {
		Message string `json:"message"`
		Code    string `json:"code,omitempty"`
	} `json:"error,omitempty"`
	Steps     json.RawMessage `json:"steps,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	LastSeq   uint64          `json:"last_seq"`
}

// outcome is the snapshot's result or *ExecutionError, for an ended one.
func (s Snapshot) outcome() (json.RawMessage, error) {
	switch s.Status {
	case "completed":
		return s.Result, nil
	case "failed", "cancelled":
		xe := &ExecutionError{ExecutionID: s.ExecutionID, Status: s.Status}
		if s.Error != nil {
			xe.Code, xe.Message = s.Error.Code, s.Error.Message
		}
		return nil, xe
	}
	return nil, &Error{Code: CodeInternal, Message: "client: execution " + s.ExecutionID + " has not ended (" + s.Status + ")", Retryable: true}
}

// Get returns an execution's snapshot.
func (c *Client) Get(ctx context.Context, executionID string) (Snapshot, error) {
	var s Snapshot
	err := c.call(ctx, "execution.get", map[string]string{"execution_id": executionID}, &s)
	return s, err
}

// ListOptions filter executions.list.
type ListOptions struct {
	Status         string `json:"status,omitempty"`
	Workflow       string `json:"workflow,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// CreatedAfter (inclusive) and CreatedBefore (exclusive) bound
	// created_at; RFC 3339 times, "" for no bound.
	CreatedAfter  string `json:"created_after,omitempty"`
	CreatedBefore string `json:"created_before,omitempty"`
	// Metadata keeps executions whose metadata has each key with the
	// value (a string equal to it, or another JSON value spelt so).
	Metadata map[string]string `json:"metadata,omitempty"`
	Limit    int               `json:"limit,omitempty"`
	Cursor   string            `json:"cursor,omitempty"`
}

// ListResult is one page of executions, newest first.
type ListResult struct {
	Items      []Snapshot `json:"items"`
	NextCursor string     `json:"next_cursor"`
}

// List lists executions of the workspace.
func (c *Client) List(ctx context.Context, opts ListOptions) (ListResult, error) {
	var r ListResult
	err := c.call(ctx, "executions.list", opts, &r)
	return r, err
}

// Cancel asks an execution to stop; it ends with execution_cancelled. The
// answer is "cancelling", or the status of an execution already ended.
func (c *Client) Cancel(ctx context.Context, executionID, reason string) (status string, err error) {
	var r struct {
		Status string `json:"status"`
	}
	err = c.call(ctx, "execution.cancel", map[string]string{"execution_id": executionID, "reason": reason}, &r)
	return r.Status, err
}

// Signal sends a named signal with payload to an execution. delivered is
// false when the execution had already ended.
func (c *Client) Signal(ctx context.Context, executionID, name string, payload any) (delivered bool, err error) {
	raw, err := encodeBody(payload)
	if err != nil {
		return false, err
	}
	var r struct {
		Delivered bool `json:"delivered"`
	}
	err = c.call(ctx, "execution.signal", map[string]any{"execution_id": executionID, "name": name, "payload": raw}, &r)
	return r.Delivered, err
}

// Delete removes an ended execution (completed, failed or cancelled) with
// its events, steps, pending signals and idempotency key (execution.delete,
// scope executions:write). An execution that has not ended is CONFLICT
// (cancel it first); an unknown one, another workspace's, or one already
// deleted is EXECUTION_NOT_FOUND. Afterwards Get and Subscribe answer
// EXECUTION_NOT_FOUND, and a start with the same idempotency key starts a
// new execution. A Delete in flight when the connection drops is not sent
// again: it fails with a retryable UNAVAILABLE (it may have been applied;
// a second Delete then answers EXECUTION_NOT_FOUND).
func (c *Client) Delete(ctx context.Context, executionID string) error {
	return c.call(ctx, "execution.delete", map[string]string{"execution_id": executionID}, nil)
}

// WorkflowInfo describes a registered workflow.
type WorkflowInfo struct {
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	ParametersSchema json.RawMessage `json:"parameters_schema"`
}

// Workflows lists the registered workflows.
func (c *Client) Workflows(ctx context.Context) ([]WorkflowInfo, error) {
	var r struct {
		Workflows []WorkflowInfo `json:"workflows"`
	}
	err := c.call(ctx, "workflow.list", nil, &r)
	return r.Workflows, err
}

// Ping is a round trip through the server's request path.
func (c *Client) Ping(ctx context.Context) error { return c.call(ctx, "ping", nil, nil) }

// Send sends message to another connection of the workspace
// (connection.send; it gets a "message" push). Needs connections:admin.
func (c *Client) Send(ctx context.Context, connectionID string, message any) error {
	raw, err := encodeBody(message)
	if err != nil {
		return err
	}
	return c.call(ctx, "connection.send", map[string]any{"connection_id": connectionID, "message": raw}, nil)
}

// CloseConnection closes a connection of the workspace with 4000
// (connection.close). Needs connections:admin.
func (c *Client) CloseConnection(ctx context.Context, connectionID, reason string) error {
	return c.call(ctx, "connection.close", map[string]string{"connection_id": connectionID, "reason": reason}, nil)
}

// ConnectionInfo describes a connection (connections.list).
type ConnectionInfo struct {
	ConnectionID string    `json:"connection_id"`
	Identity     string    `json:"identity"`
	ConnectedAt  time.Time `json:"connected_at"`
	Rooms        []string  `json:"rooms"`
}

// Connections lists the workspace's connections.
func (c *Client) Connections(ctx context.Context) ([]ConnectionInfo, error) {
	var r struct {
		Connections []ConnectionInfo `json:"connections"`
	}
	err := c.call(ctx, "connections.list", nil, &r)
	return r.Connections, err
}

// Call sends any service request and decodes its final answer into out
// (nil to ignore it): an escape hatch for services without a method.
func (c *Client) Call(ctx context.Context, service string, request, out any) error {
	return c.call(ctx, service, request, out)
}
