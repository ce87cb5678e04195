package ws

import (
	"context"
	"encoding/json"
)

// Room and connection services (PROTOCOL.md section 4). Scopes and
// workspaces are checked by the service.

type roomRequest struct {
	Room     string          `json:"room"`
	Presence *bool           `json:"presence"`
	Message  json.RawMessage `json:"message"`
}

func roomJoin(ctx context.Context, r *request) (any, error) {
	var req roomRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	presence := req.Presence == nil || *req.Presence
	return r.c.svc.Join(ctx, r.who, r.c.ref(), req.Room, presence)
}

func roomLeave(ctx context.Context, r *request) (any, error) {
	var req roomRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.Leave(ctx, r.who, r.c.ref(), req.Room)
}

func roomBroadcast(ctx context.Context, r *request) (any, error) {
	var req roomRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.Broadcast(ctx, r.who, r.c.id, req.Room, req.Message)
}

func roomMembers(ctx context.Context, r *request) (any, error) {
	var req roomRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.Members(ctx, r.who, req.Room)
}

func connectionsList(ctx context.Context, r *request) (any, error) {
	return r.c.svc.Connections(ctx, r.who)
}

type connectionRequest struct {
	ConnectionID string          `json:"connection_id"`
	Message      json.RawMessage `json:"message"`
	Reason       string          `json:"reason"`
}

func connectionSend(ctx context.Context, r *request) (any, error) {
	var req connectionRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	if err := r.c.svc.SendTo(ctx, r.who, r.c.id, req.ConnectionID, req.Message); err != nil {
		return nil, err
	}
	return map[string]bool{"sent": true}, nil
}

func connectionClose(ctx context.Context, r *request) (any, error) {
	var req connectionRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	if err := r.c.svc.CloseConnection(ctx, r.who, req.ConnectionID, req.Reason); err != nil {
		return nil, err
	}
	return map[string]bool{"closed": true}, nil
}
