package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Messenger delivers workflow output to sockets; the server provides it.
type Messenger interface {
	// RoomBroadcast sends message to every member of a room of the
	// workspace (room "" = every connection of the workspace).
	RoomBroadcast(ctx context.Context, workspace, room, from string, message json.RawMessage) (delivered, subscribers int, err error)
	// SendToConnection sends message to one connection of the workspace.
	SendToConnection(ctx context.Context, workspace, connectionID, from string, message json.RawMessage) error
}

// ErrNoMessenger means the workflow runs where nothing can reach sockets.
var ErrNoMessenger = errors.New("no messenger: this server cannot deliver to sockets")

// BroadcastResult tells how far a broadcast reached.
type BroadcastResult struct {
	DeliveredTo     int `json:"delivered_to"`
	SubscriberCount int `json:"subscriber_count"`
}

// Broadcast sends message to every member of room (as a room.message with
// from "workflow:<execution id>") as a durable step: once recorded, a re-run
// does not send it again.
func Broadcast(ctx Context, room string, message any) (BroadcastResult, error) {
	from := "workflow:" + ctx.ExecutionID()
	return Task(ctx, "room.broadcast:"+room, func(stepCtx context.Context) (BroadcastResult, error) {
		m, raw, err := messengerAndJSON(ctx, message)
		if err != nil {
			return BroadcastResult{}, err
		}
		d, n, err := m.RoomBroadcast(stepCtx, ctx.Workspace(), room, from, raw)
		return BroadcastResult{DeliveredTo: d, SubscriberCount: n}, err
	}, WithInput(map[string]any{"room": room, "message": message}), WithRetry(NoRetry))
}

// Send sends message to one connection (for example ctx.ConnectionID(), the
// socket that started the execution) as a durable step. A connection that
// is gone fails the step with code WS_CONNECTION_NOT_FOUND.
func Send(ctx Context, connectionID string, message any) error {
	from := "workflow:" + ctx.ExecutionID()
	_, err := Task(ctx, "connection.send:"+connectionID, func(stepCtx context.Context) (bool, error) {
		m, raw, err := messengerAndJSON(ctx, message)
		if err != nil {
			return false, err
		}
		return true, m.SendToConnection(stepCtx, ctx.Workspace(), connectionID, from, raw)
	}, WithInput(map[string]any{"connection_id": connectionID, "message": message}), WithRetry(NoRetry))
	return err
}

func messengerAndJSON(ctx Context, message any) (Messenger, json.RawMessage, error) {
	m := ctx.state().run.env.Messenger
	if m == nil {
		return nil, nil, NonRetryable(ErrNoMessenger)
	}
	raw, err := json.Marshal(message)
	if err != nil {
		return nil, nil, NonRetryable(fmt.Errorf("encode message: %w", err))
	}
	return m, raw, nil
}
