package actors

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// Export and import of a running server (PROTOCOL.md section 10): the
// records of persistence/portable.go, read and written through the
// service so that scopes and workspaces are checked once, here.
//
// Both need the admin scope: a record holds everything (starter,
// connection id, pending signals) and an import writes histories no
// workflow ran here. A token writes only its own workspace, so a record
// of another workspace is FORBIDDEN (import it with a token of that
// workspace); the workspace in the record is kept, never rewritten.

// ExportExecution returns execution id in portable form, as the store
// holds it: record with the real last_seq, steps, pending signals and the
// event log as stored. Another workspace's execution is
// EXECUTION_NOT_FOUND.
func (s *Service) ExportExecution(ctx context.Context, who weft.Identity, id string) (persistence.Record, error) {
	if err := who.Require(weft.ScopeAdmin); err != nil {
		return persistence.Record{}, err
	}
	if _, err := s.visibleExecution(ctx, who, id); err != nil {
		return persistence.Record{}, err
	}
	rec, err := s.sys.store.Export(ctx, id)
	switch {
	case errors.Is(err, persistence.ErrNotFound): // deleted in between
		return persistence.Record{}, weft.Errorf(weft.CodeExecutionNotFound, "no execution %q", id)
	case err != nil:
		return persistence.Record{}, weft.Internal(err)
	}
	return rec, nil
}

// ImportResult answers an import: how many records were stored, and how
// many were already present (the same import done before).
type ImportResult struct {
	Imported int `json:"imported"`
	Skipped  int `json:"skipped"`
}

// CanImport returns FORBIDDEN unless who may import (the admin scope), so
// that an adapter can refuse before reading a body.
func (s *Service) CanImport(who weft.Identity) error {
	return who.Require(weft.ScopeAdmin)
}

// ImportRecords reads an export file (JSON lines, one record each) from r
// and stores its records one by one, each in its own transaction. It is
// idempotent: a record whose execution is already stored with the same
// history is skipped. An imported execution that has not ended is resumed
// at once, as the unfinished executions are when a server starts.
//
// The first bad record ends the import with an error naming its line and
// execution id (and how many were imported and skipped before it; those
// stay, and importing the file again skips them): INVALID_REQUEST for a
// malformed line or record, FORBIDDEN for another workspace's record,
// CONFLICT for an id stored with another history, WORKFLOW_NOT_FOUND for
// an unfinished execution of a workflow this server does not register
// (it could not resume).
func (s *Service) ImportRecords(ctx context.Context, who weft.Identity, r io.Reader) (_ ImportResult, auditErr error) {
	defer s.audited(ctx, who, "execution.import", "", &auditErr)
	var res ImportResult
	if err := s.CanImport(who); err != nil {
		return res, err
	}
	err := persistence.ReadRecords(r, func(line int, rec persistence.Record) error {
		imported, err := s.importRecord(ctx, who, rec)
		if err != nil {
			var we *weft.Error
			if errors.As(err, &we) {
				return &weft.Error{Code: we.Code, Err: we.Err,
					Message: fmt.Sprintf("line %d (%s): %s (%s)", line, rec.Execution.ID, we.Message, progressOf(res))}
			}
			return err
		}
		if imported {
			res.Imported++
		} else {
			res.Skipped++
		}
		return nil
	})
	var we *weft.Error
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &we):
		return res, err
	case errors.Is(err, persistence.ErrInvalid):
		return res, weft.Errorf(weft.CodeInvalidRequest, "%s (%s)", trimPrefix(err), progressOf(res))
	case ctx.Err() != nil:
		return res, weft.Errorf(weft.CodeUnavailable, "import interrupted: %v (%s)", ctx.Err(), progressOf(res))
	default:
		// Reading the body failed (the client went away, a timeout).
		return res, weft.Errorf(weft.CodeInvalidRequest, "read import: %v (%s)", err, progressOf(res))
	}
}

func progressOf(res ImportResult) string {
	return fmt.Sprintf("%d imported and %d skipped before it", res.Imported, res.Skipped)
}

// trimPrefix drops the "persistence: invalid input: " of a store error,
// which means nothing to a client.
func trimPrefix(err error) string {
	msg := err.Error()
	if p := persistence.ErrInvalid.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// importRecord stores one record and resumes it if it has not ended. It
// reports false when the same record was stored before.
func (s *Service) importRecord(ctx context.Context, who weft.Identity, rec persistence.Record) (bool, error) {
	e := rec.Execution
	if e.Workspace != who.Workspace {
		return false, weft.Errorf(weft.CodeForbidden, "execution of workspace %q; this token writes to workspace %q", e.Workspace, who.Workspace)
	}
	if s.sys.draining() {
		return false, weft.Errorf(weft.CodeUnavailable, "server is shutting down")
	}
	if !e.Status.Terminal() {
		if _, ok := s.sys.registry.Lookup(e.Workflow); !ok {
			return false, weft.Errorf(weft.CodeWorkflowNotFound, "unfinished execution of workflow %q, which this server does not register", e.Workflow)
		}
	}
	err := s.sys.store.Import(ctx, rec)
	switch {
	case errors.Is(err, persistence.ErrExists):
		return false, nil
	case errors.Is(err, persistence.ErrImportConflict):
		return false, weft.Errorf(weft.CodeConflict, "already stored with another history (delete it first to replace it)")
	case errors.Is(err, persistence.ErrInvalid), errors.Is(err, persistence.ErrSeqGap):
		return false, weft.Errorf(weft.CodeInvalidRequest, "%s", trimPrefix(err))
	case err != nil:
		return false, weft.Internal(err)
	}
	if !e.Status.Terminal() {
		stored, err := s.sys.store.Execution(ctx, e.ID)
		if err != nil {
			return true, weft.Internal(err)
		}
		// As Recover does after a restart: recorded steps fast-forward, a
		// pending wait resumes, a queued one waits for its slot; in
		// cluster mode on the node holding its partition.
		s.resumeStored(ctx, stored)
	}
	return true, nil
}
