package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/weft-run/weft"
)

// Deleting executions (execution.delete) and removing them after their
// retention period. Both go through the writer like every other write, so
// a delete is atomic with respect to appends: an execution is removed
// whole (record, event log, steps, signal inbox, index entries and its
// idempotency key) or not at all.
//
// The idempotency key goes with its execution: once an execution is
// removed, a start with the same key creates a new execution instead of
// returning the old one.

// ErrNotEnded rejects the deletion of an execution that has not ended
// (queued, running or waiting). Errors wrapping it are *NotEndedError.
var ErrNotEnded = errors.New("persistence: execution has not ended")

// NotEndedError says which status kept an execution from being deleted.
type NotEndedError struct {
	ID     string
	Status weft.Status
}

func (e *NotEndedError) Error() string {
	return fmt.Sprintf("persistence: execution %s is %s, not ended", e.ID, e.Status)
}

// Is makes errors.Is(err, ErrNotEnded) hold.
func (e *NotEndedError) Is(target error) bool { return target == ErrNotEnded }

// DeleteExecution removes the ended execution id of workspace ws with
// everything stored about it, and returns its record as it was. An unknown
// id, or one of another workspace, is ErrNotFound; an execution that has
// not ended is a *NotEndedError (ErrNotEnded) and nothing is removed.
func (s *Store) DeleteExecution(ctx context.Context, ws, id string) (Execution, error) {
	if id == "" || len(id) > bolt.MaxKeySize/2 {
		return Execution{}, fmt.Errorf("execution %q: %w", id, ErrNotFound)
	}
	o := &deleteOp{id: id, workspace: ws}
	if err := s.do(ctx, o); err != nil {
		return Execution{}, err
	}
	if s.opts.OnDeleted != nil {
		s.opts.OnDeleted([]Execution{o.rec})
	}
	return o.rec, nil
}

type deleteOp struct {
	id, workspace string
	rec           Execution // loaded by check
}

func (o *deleteOp) check(tx *bolt.Tx) error {
	raw := tx.Bucket(bktExecutions).Get([]byte(o.id))
	if raw == nil {
		return fmt.Errorf("execution %s: %w", o.id, ErrNotFound)
	}
	o.rec = Execution{}
	if err := json.Unmarshal(raw, &o.rec); err != nil {
		return fmt.Errorf("persistence: decode execution %s: %w", o.id, err)
	}
	if o.rec.Workspace != o.workspace {
		return fmt.Errorf("execution %s: %w", o.id, ErrNotFound)
	}
	if !o.rec.Status.Terminal() {
		return &NotEndedError{ID: o.id, Status: o.rec.Status}
	}
	o.rec.LastSeq = lastSeq(tx, []byte(o.id))
	return nil
}

func (o *deleteOp) put(tx *bolt.Tx) error { return removeExecution(tx, &o.rec) }

// removeExecution deletes e (as stored: its index keys are computed from
// the record) and everything that hangs off it.
func removeExecution(tx *bolt.Tx, e *Execution) error {
	id := []byte(e.ID)
	if err := tx.Bucket(bktExecutions).Delete(id); err != nil {
		return err
	}
	for _, top := range [][]byte{bktEvents, bktSteps, bktSignals} {
		if err := tx.Bucket(top).DeleteBucket(id); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
	}
	if err := tx.Bucket(bktByWorkspace).Delete(workspaceKey(e)); err != nil {
		return err
	}
	if err := tx.Bucket(bktByStatus).Delete(statusKey(e)); err != nil {
		return err
	}
	if err := tx.Bucket(bktUnfinished).Delete(unfinishedKey(e)); err != nil {
		return err
	}
	if e.IdempotencyKey != "" {
		// Only if it still names this execution: never take another's.
		idem := tx.Bucket(bktIdempotency)
		k := idempotencyKey(e.Workspace, e.Workflow, e.IdempotencyKey)
		if string(idem.Get(k)) == e.ID {
			if err := idem.Delete(k); err != nil {
				return err
			}
		}
	}
	if b := tx.Bucket(bktEnded); b != nil && e.Status.Terminal() {
		return b.Delete(endedKey(e))
	}
	return nil
}
