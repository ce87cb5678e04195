package ws

import "context"

// executionDelete serves execution.delete: {"execution_id"} (or the id in
// flow) -> {"deleted":true}.
func executionDelete(ctx context.Context, r *request) (any, error) {
	var req struct {
		ExecutionID string `json:"execution_id"`
	}
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.DeleteExecution(ctx, r.who, r.executionID(req.ExecutionID))
}
