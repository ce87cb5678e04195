package actors

import (
	"context"
	"errors"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// StatsRequest is the request of workflow.stats.
type StatsRequest struct {
	Name   string `json:"name"`
	Period string `json:"period"` // hour, day (default) or week
}

// WorkflowStats answers workflow.stats: how the caller's workspace's
// executions of a workflow that ended in the last hour, day or week went
// (counts by status, success rate, mean and p95 duration, failures per
// day) and the health those figures give. It reads the store's rollup
// (persistence/stats.go), so its cost does not grow with the history.
//
// A workflow this server registers has stats in every workspace (zeros
// where it never ran); one it does not register has them only where
// executions of it ended within the rollup's 8 days, and is
// WORKFLOW_NOT_FOUND elsewhere, as an unknown name is.
func (s *Service) WorkflowStats(ctx context.Context, who weft.Identity, req StatsRequest) (persistence.WorkflowStats, error) {
	if err := who.Require(weft.ScopeWorkflowsRead); err != nil {
		return persistence.WorkflowStats{}, err
	}
	if req.Name == "" {
		return persistence.WorkflowStats{}, weft.Errorf(weft.CodeInvalidRequest, "name is required")
	}
	period, err := persistence.ParsePeriod(req.Period)
	if err != nil {
		return persistence.WorkflowStats{}, weft.Errorf(weft.CodeInvalidRequest, "period must be hour, day or week, not %q", req.Period)
	}
	st, err := s.sys.store.WorkflowStats(ctx, who.Workspace, req.Name, period, time.Now())
	switch {
	case errors.Is(err, persistence.ErrInvalid):
		return persistence.WorkflowStats{}, weft.Errorf(weft.CodeInvalidRequest, "%v", err)
	case err != nil && ctx.Err() != nil:
		return persistence.WorkflowStats{}, weft.Errorf(weft.CodeUnavailable, "stats of %s: %v", req.Name, ctx.Err())
	case err != nil:
		return persistence.WorkflowStats{}, weft.Internal(err)
	}
	if _, registered := s.sys.registry.Lookup(req.Name); !registered && !st.Known {
		return persistence.WorkflowStats{}, weft.Errorf(weft.CodeWorkflowNotFound, "no workflow named %q", req.Name)
	}
	return st, nil
}
