package ws

import (
	"context"

	"github.com/weft-run/weft/actors"
)

// workflowStats serves workflow.stats: {"name","period?"} -> the
// workflow's stats over the period (actors.Service.WorkflowStats).
func workflowStats(ctx context.Context, r *request) (any, error) {
	var req actors.StatsRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.WorkflowStats(ctx, r.who, req)
}
