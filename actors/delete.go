package actors

import (
	"context"
	"errors"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// DeleteResult answers execution.delete.
type DeleteResult struct {
	Deleted bool `json:"deleted"`
}

// DeleteExecution removes an ended execution with everything stored about
// it: its record, events, steps, pending signals and idempotency key (a
// start with that key afterwards creates a new execution). Afterwards it is
// EXECUTION_NOT_FOUND everywhere. An execution that has not ended (queued,
// running, waiting) is refused with CONFLICT: cancel it first. Another
// workspace's execution is EXECUTION_NOT_FOUND.
//
// The check and the removal are one write of the store's writer, so an
// execution that ends or starts a step meanwhile is either removed whole
// or refused, never half-removed.
func (s *Service) DeleteExecution(ctx context.Context, who weft.Identity, id string) (_ DeleteResult, auditErr error) {
	defer s.audited(ctx, who, "execution.delete", id, &auditErr)
	if err := who.Require(weft.ScopeExecutionsWrite); err != nil {
		return DeleteResult{}, err
	}
	if id == "" {
		return DeleteResult{}, weft.Errorf(weft.CodeInvalidRequest, "execution_id is required")
	}
	_, err := s.sys.store.DeleteExecution(ctx, who.Workspace, id)
	var notEnded *persistence.NotEndedError
	switch {
	case errors.Is(err, persistence.ErrNotFound):
		return DeleteResult{}, weft.Errorf(weft.CodeExecutionNotFound, "no execution %q", id)
	case errors.As(err, &notEnded):
		return DeleteResult{}, weft.Errorf(weft.CodeConflict,
			"execution %s is %s: only an ended execution can be deleted; cancel it first (execution.cancel)", id, notEnded.Status)
	case err != nil:
		if ctx.Err() != nil {
			return DeleteResult{}, weft.Errorf(weft.CodeUnavailable, "delete of %s: %v", id, ctx.Err())
		}
		return DeleteResult{}, weft.Internal(err)
	}
	s.sys.metrics.ExecutionsDeleted.WithLabelValues(deletedByAPI).Inc()
	s.sys.log.Info().Str("execution_id", id).Str("identity", who.Name).Str("workspace", who.Workspace).Msg("execution deleted")
	return DeleteResult{Deleted: true}, nil
}
