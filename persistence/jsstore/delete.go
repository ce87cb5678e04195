package jsstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/persistence"
)

// DeleteExecution removes the ended execution id of workspace ws with
// everything stored about it (its log, checkpoints, signal inbox, entries
// and idempotency key), and returns its record as it was. An unknown id,
// or one of another workspace, is persistence.ErrNotFound; an execution
// that has not ended is a *persistence.NotEndedError and nothing is
// removed.
//
// The record is first marked deleting, by compare-and-set (so of two
// concurrent deletes one wins; reads treat a deleting record as gone),
// then everything else is purged, the record last: a delete cut short is
// finished by the next DeleteExecution of the same id, which answers
// ErrNotFound.
func (s *Store) DeleteExecution(ctx context.Context, ws, id string) (persistence.Execution, error) {
	if err := s.open(); err != nil {
		return persistence.Execution{}, err
	}
	rv, rev, err := s.rawRecord(ctx, id)
	if err != nil {
		return persistence.Execution{}, err
	}
	e := rv.Exec
	if e.Workspace != ws {
		return persistence.Execution{}, fmt.Errorf("execution %s: %w", id, persistence.ErrNotFound)
	}
	if rv.Deleting {
		// A delete that did not finish: finish it.
		if err := s.purgeExecution(ctx, e); err != nil {
			return persistence.Execution{}, err
		}
		return persistence.Execution{}, fmt.Errorf("execution %s: %w", id, persistence.ErrNotFound)
	}
	if !e.Status.Terminal() {
		return persistence.Execution{}, &persistence.NotEndedError{ID: id, Status: e.Status}
	}
	last, err := s.lastMessage(ctx, s.names.eventsSubject(ws, id))
	if err != nil {
		return persistence.Execution{}, err
	}
	if last != nil {
		e.LastSeq = last.seq
	}
	rv.Deleting = true
	raw, err := json.Marshal(rv)
	if err != nil {
		return persistence.Execution{}, fmt.Errorf("jsstore: encode execution %s: %w", id, err)
	}
	if _, err := s.records.Update(ctx, recordKey(id), raw, rev); err != nil {
		if casLost(err) {
			return persistence.Execution{}, fmt.Errorf("execution %s changed or is being deleted: %w", id, persistence.ErrNotFound)
		}
		return persistence.Execution{}, fmt.Errorf("jsstore: delete %s: %w", id, err)
	}
	if err := s.purgeExecution(ctx, e); err != nil {
		return persistence.Execution{}, err
	}
	s.Forget(id)
	return e, nil
}

// rawRecord reads the record of id and its revision, whatever its marks
// (deleting, importing).
func (s *Store) rawRecord(ctx context.Context, id string) (recordValue, uint64, error) {
	if id == "" || len(id) > maxIDLen {
		return recordValue{}, 0, fmt.Errorf("execution %q: %w", id, persistence.ErrNotFound)
	}
	return getJSON[recordValue](ctx, s.records, recordKey(id), "execution", id)
}

// getJSON reads key from kv and decodes its value as a T, with its
// revision: persistence.ErrNotFound when the key is absent, ErrCorrupt
// when its value does not decode. what and id name it in errors.
func getJSON[T any](ctx context.Context, kv jetstream.KeyValue, key, what, id string) (T, uint64, error) {
	var v T
	entry, err := kv.Get(ctx, key)
	if notFound(err) {
		return v, 0, fmt.Errorf("%s %s: %w", what, id, persistence.ErrNotFound)
	}
	if err != nil {
		return v, 0, fmt.Errorf("jsstore: read %s %s: %w", what, id, err)
	}
	if err := json.Unmarshal(entry.Value(), &v); err != nil {
		return v, 0, fmt.Errorf("%w: %s %s: %v", ErrCorrupt, what, id, err)
	}
	return v, entry.Revision(), nil
}

// purgeExecution removes what hangs off e, then its record.
func (s *Store) purgeExecution(ctx context.Context, e persistence.Execution) error {
	n := s.names
	purges := []struct {
		st      jetstream.Stream
		subject string
	}{
		{s.listStream, kvSubject(n.list, listKey(e.Workspace, e.ID))},
		{s.unfinishedS, kvSubject(n.unfinished, unfinishedKey(e.ID))},
		{s.stepsStream, kvSubject(n.steps, stepsFilter(e.ID))},
		{s.signals, n.signalsSubject(e.Workspace, e.ID)},
		{s.events, n.eventsSubject(e.Workspace, e.ID)},
		{s.rest.ended, s.endedSubject(e)}, // retention has nothing left to do
	}
	fns := []func() error{func() error { return s.releaseKey(ctx, e) }}
	for _, p := range purges {
		fns = append(fns, func() error {
			if err := p.st.Purge(ctx, jetstream.WithPurgeSubject(p.subject)); err != nil {
				return fmt.Errorf("jsstore: delete %s: purge %s: %w", e.ID, p.subject, err)
			}
			return nil
		})
	}
	if err := parallel(fns...); err != nil {
		return err
	}
	if err := s.recordsS.Purge(ctx, jetstream.WithPurgeSubject(kvSubject(n.records, recordKey(e.ID)))); err != nil {
		return fmt.Errorf("jsstore: delete %s: %w", e.ID, err)
	}
	return nil
}

// releaseKey removes e's idempotency key if it still names e (never
// another execution's).
func (s *Store) releaseKey(ctx context.Context, e persistence.Execution) error {
	if e.IdempotencyKey == "" {
		return nil
	}
	key := idemKey(e.Workspace, e.Workflow, e.IdempotencyKey)
	entry, err := s.idem.Get(ctx, key)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("jsstore: delete %s: idempotency key: %w", e.ID, err)
	}
	if string(entry.Value()) != e.ID {
		return nil
	}
	// Purged only at that revision: a create that took the key since is
	// left alone. The purge leaves one marker, which a later create of the
	// key replaces.
	if err := s.idem.Purge(ctx, key, jetstream.LastRevision(entry.Revision())); err != nil {
		if casLost(err) {
			return nil // taken over meanwhile: not ours any more
		}
		return fmt.Errorf("jsstore: delete %s: idempotency key: %w", e.ID, err)
	}
	return nil
}
