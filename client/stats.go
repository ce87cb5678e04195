package client

import (
	"context"
	"time"
)

// WorkflowStats is how a workflow's executions that ended in a period went
// (workflow.stats): counts by status, success rate, mean and p95 duration,
// failures per day, and the health they give.
type WorkflowStats struct {
	Workflow  string `json:"workflow"`
	Period    string `json:"period"` // hour, day or week
	Runs      int64  `json:"runs"`   // executions that ended in the period
	Completed int64  `json:"completed"`
	Failed    int64  `json:"failed"`
	Cancelled int64  `json:"cancelled"`
	// SuccessRate is Completed/Runs, 1 with no runs.
	SuccessRate float64 `json:"success_rate"`
	// AvgDurationMS is exact; P95DurationMS is within 5%.
	AvgDurationMS float64 `json:"avg_duration_ms"`
	P95DurationMS float64 `json:"p95_duration_ms"`
	// ErrorsPerDay is Failed scaled to a day (×24 for an hour, ÷7 for a
	// week).
	ErrorsPerDay float64 `json:"errors_per_day"`
	// Health is "ok", "warning" (a failure, or under 95% success) or
	// "error" (over 5 failures a day, or under 80% success).
	Health string `json:"health"`
	// From and To bound the window (From is a minute boundary).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// WorkflowStats reads the stats of workflow name over period ("hour",
// "day" or "week"; "" is "day") for the token's workspace (scope
// workflows:read). An unknown workflow is WORKFLOW_NOT_FOUND, another
// period INVALID_REQUEST.
func (c *Client) WorkflowStats(ctx context.Context, name, period string) (WorkflowStats, error) {
	req := map[string]string{"name": name}
	if period != "" {
		req["period"] = period
	}
	var st WorkflowStats
	err := c.call(ctx, "workflow.stats", req, &st)
	return st, err
}
