package ws

import (
	"context"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/events"
)

// executionReplay streams an execution's stored events again, each with
// data.replay=true; the last one carries complete:true.
func executionReplay(ctx context.Context, r *request) (any, error) {
	var req actors.ReplayRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	req.ExecutionID = r.executionID(req.ExecutionID)
	return nil, r.c.svc.Replay(ctx, r.who, req, func(e events.Event, last bool) error {
		return r.send(ctx, encodeEvent(r.id, e, last), last)
	})
}

// executionRerun starts a rerun from a step and, like workflow.start,
// streams its events unless subscribe is false.
func executionRerun(ctx context.Context, r *request) (any, error) {
	var req struct {
		actors.RerunRequest
		Subscribe *bool `json:"subscribe"`
	}
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	req.ExecutionID = r.executionID(req.ExecutionID)
	req.ConnectionID = r.c.id
	req.Follow = req.Subscribe == nil || *req.Subscribe // then executions:read is checked before anything is stored
	res, err := r.c.svc.Rerun(ctx, r.who, req.RerunRequest)
	if err != nil {
		return nil, err
	}
	if req.Subscribe != nil && !*req.Subscribe {
		return res, nil
	}
	return r.answerAndFollow(ctx, res, res.ExecutionID)
}
