package persistence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-run/weft/events"
)

// applier is one queued unit of work. The writer runs check then put for each
// op of a batch inside the batch's one transaction.
//
// Splitting the two is what lets a batch commit around a rejected op without
// re-running anything: check only reads (it sees the earlier ops of the same
// batch, so two creates with one idempotency key, or two appends to one log,
// behave as if run one after the other), and an op that fails check has
// written nothing. put errors are bbolt-level failures after the op may have
// half-written, so the writer throws the batch away and retries op by op.
type applier interface {
	check(tx *bolt.Tx) error
	put(tx *bolt.Tx) error
}

// Encoding happens in the caller's goroutine (newCreateOp, newWriteOp), not
// the writer's: the writer is the bottleneck, so it only moves bytes. It also
// means the caller may reuse its Write as soon as CommitAsync returns.

type createOp struct {
	exec     Execution
	record   []byte // exec as JSON
	first    []byte // the first event as JSON
	idemKey  []byte // nil without an idempotency key
	existing *Execution
}

func newCreateOp(exec Execution, first events.Event) (*createOp, error) {
	switch {
	case exec.ID == "" || len(exec.ID) > bolt.MaxKeySize/2:
		return nil, fmt.Errorf("%w: execution id %q", ErrInvalid, exec.ID)
	case exec.Workspace == "":
		return nil, fmt.Errorf("%w: execution %s has no workspace", ErrInvalid, exec.ID)
	case !exec.Status.Valid():
		return nil, fmt.Errorf("%w: execution %s has status %q", ErrInvalid, exec.ID, exec.Status)
	case first.Seq() != 1:
		return nil, fmt.Errorf("%w: first event of %s has seq %d, want 1", ErrSeqGap, exec.ID, first.Seq())
	case first.Data.ExecutionID != "" && first.Data.ExecutionID != exec.ID:
		return nil, fmt.Errorf("%w: first event of %s belongs to %s", ErrInvalid, exec.ID, first.Data.ExecutionID)
	}
	// LastSeq is derived from the log on read; storing it would go stale.
	exec.LastSeq = 0
	o := &createOp{exec: exec}
	var err error
	if o.record, err = json.Marshal(exec); err != nil {
		return nil, fmt.Errorf("persistence: encode execution %s: %w", exec.ID, err)
	}
	if o.first, err = json.Marshal(first); err != nil {
		return nil, fmt.Errorf("persistence: encode first event of %s: %w", exec.ID, err)
	}
	if exec.IdempotencyKey != "" {
		o.idemKey = idempotencyKey(exec.Workspace, exec.Workflow, exec.IdempotencyKey)
		if len(o.idemKey) > bolt.MaxKeySize {
			return nil, fmt.Errorf("%w: idempotency key of %s is too long", ErrInvalid, exec.ID)
		}
	}
	return o, nil
}

func (o *createOp) check(tx *bolt.Tx) error {
	o.existing = nil // check may run twice (batch, then alone)
	if o.idemKey != nil {
		if id := tx.Bucket(bktIdempotency).Get(o.idemKey); id != nil {
			e, err := loadExecution(tx, string(id))
			if err != nil {
				return fmt.Errorf("persistence: idempotency key of %s points at %s: %w", o.exec.ID, id, err)
			}
			o.existing = &e
			return nil
		}
	}
	if tx.Bucket(bktExecutions).Get([]byte(o.exec.ID)) != nil {
		return fmt.Errorf("%w: %s", ErrExists, o.exec.ID)
	}
	return nil
}

func (o *createOp) put(tx *bolt.Tx) error {
	if o.existing != nil {
		return nil // idempotent hit: write nothing
	}
	id := []byte(o.exec.ID)
	if err := tx.Bucket(bktExecutions).Put(id, o.record); err != nil {
		return err
	}
	log, err := tx.Bucket(bktEvents).CreateBucket(id)
	if err != nil {
		return err
	}
	if err := log.Put(seqKey(1), o.first); err != nil {
		return err
	}
	if o.idemKey != nil {
		if err := tx.Bucket(bktIdempotency).Put(o.idemKey, id); err != nil {
			return err
		}
	}
	return putIndexes(tx, &o.exec)
}

// putIndexes adds e to the listing indexes, and to unfinished unless its
// status is terminal.
func putIndexes(tx *bolt.Tx, e *Execution) error {
	if err := tx.Bucket(bktByWorkspace).Put(workspaceKey(e), []byte{}); err != nil {
		return err
	}
	if err := tx.Bucket(bktByStatus).Put(statusKey(e), []byte{}); err != nil {
		return err
	}
	if e.Status.Terminal() {
		if err := rollUpEnded(tx, e); err != nil { // stats.go
			return err
		}
		return putEnded(tx, e) // retention.go
	}
	return tx.Bucket(bktUnfinished).Put(unfinishedKey(e), []byte{})
}

type writeOp struct {
	id       []byte
	firstSeq uint64
	events   []events.Stored // encoded once: stored, then published as is
	packs    []deltaPack     // how llm_delta events pack (pack.go); nil: none
	stepIDs  [][]byte
	steps    [][]byte
	status   *StatusUpdate
	rec      *Execution // the record, loaded by check when status != nil
	consume  []uint64
}

func newWriteOp(w Write) (*writeOp, error) {
	if w.ExecutionID == "" || len(w.ExecutionID) > bolt.MaxKeySize/2 {
		return nil, fmt.Errorf("%w: execution id %q", ErrInvalid, w.ExecutionID)
	}
	o := &writeOp{id: []byte(w.ExecutionID), consume: append([]uint64(nil), w.ConsumeSignals...)}
	if len(w.Events) > 0 {
		o.firstSeq = w.Events[0].Seq()
		o.events = make([]events.Stored, len(w.Events))
	}
	for i, ev := range w.Events {
		if want := o.firstSeq + uint64(i); ev.Seq() != want {
			return nil, fmt.Errorf("%w: %s: event %d of the write has seq %d, want %d", ErrSeqGap, w.ExecutionID, i, ev.Seq(), want)
		}
		if ev.Data.ExecutionID != "" && ev.Data.ExecutionID != w.ExecutionID {
			return nil, fmt.Errorf("%w: event seq %d of %s belongs to %s", ErrInvalid, ev.Seq(), w.ExecutionID, ev.Data.ExecutionID)
		}
		st, err := events.Encode(ev)
		if err != nil {
			return nil, fmt.Errorf("persistence: %s: %w", w.ExecutionID, err)
		}
		o.events[i] = st
	}
	o.packs = cutDeltas(w.Events, o.events)
	for _, st := range w.Steps {
		if st.ID == "" || len(st.ID) > bolt.MaxKeySize {
			return nil, fmt.Errorf("%w: step id %q of %s", ErrInvalid, st.ID, w.ExecutionID)
		}
		raw, err := json.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("persistence: encode step %s of %s: %w", st.ID, w.ExecutionID, err)
		}
		o.stepIDs = append(o.stepIDs, []byte(st.ID))
		o.steps = append(o.steps, raw)
	}
	if w.Status != nil {
		if !w.Status.Status.Valid() {
			return nil, fmt.Errorf("%w: status %q for %s", ErrInvalid, w.Status.Status, w.ExecutionID)
		}
		// Copy, so the caller may reuse its Write once CommitAsync returns.
		st := *w.Status
		st.Result = bytes.Clone(st.Result)
		if st.Error != nil {
			e := *st.Error
			st.Error = &e
		}
		if st.At.IsZero() {
			st.At = time.Now()
		}
		o.status = &st
	}
	return o, nil
}

func (o *writeOp) check(tx *bolt.Tx) error {
	o.rec = nil
	raw := tx.Bucket(bktExecutions).Get(o.id)
	if raw == nil {
		return fmt.Errorf("execution %s: %w", o.id, ErrNotFound)
	}
	if len(o.events) > 0 {
		if last := lastSeq(tx, o.id); o.firstSeq != last+1 {
			return fmt.Errorf("%w: %s: write starts at seq %d, log ends at %d", ErrSeqGap, o.id, o.firstSeq, last)
		}
	}
	if o.status != nil {
		var rec Execution
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("persistence: decode execution %s: %w", o.id, err)
		}
		o.rec = &rec
	}
	return nil
}

func (o *writeOp) put(tx *bolt.Tx) error {
	if len(o.events) > 0 {
		log, err := tx.Bucket(bktEvents).CreateBucketIfNotExists(o.id)
		if err != nil {
			return err
		}
		// The log is append-only: full pages waste no space and are never
		// split by a later insert in the middle.
		log.FillPercent = 1.0
		if err := putEvents(log, o.events, o.packs); err != nil {
			return err
		}
	}
	if len(o.steps) > 0 {
		sb, err := tx.Bucket(bktSteps).CreateBucketIfNotExists(o.id)
		if err != nil {
			return err
		}
		for i, raw := range o.steps {
			if err := sb.Put(o.stepIDs[i], raw); err != nil {
				return err
			}
		}
	}
	if len(o.consume) > 0 {
		if inbox := tx.Bucket(bktSignals).Bucket(o.id); inbox != nil {
			for _, seq := range o.consume {
				if err := inbox.Delete(seqKey(seq)); err != nil {
					return err
				}
			}
		}
	}
	if o.status != nil {
		return applyStatus(tx, o.rec, o.status)
	}
	return nil
}

// applyStatus rewrites the record and moves it between index entries. The
// index keys depend only on workspace, status and CreatedAt, so the old
// entries can be computed from the stored record.
func applyStatus(tx *bolt.Tx, rec *Execution, st *StatusUpdate) error {
	old := *rec
	rec.Status, rec.Result, rec.Error, rec.UpdatedAt = st.Status, st.Result, st.Error, st.At
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("persistence: encode execution %s: %w", rec.ID, err)
	}
	if err := tx.Bucket(bktExecutions).Put([]byte(rec.ID), raw); err != nil {
		return err
	}
	if old.Status != rec.Status {
		bs := tx.Bucket(bktByStatus)
		if err := bs.Delete(statusKey(&old)); err != nil {
			return err
		}
		if err := bs.Put(statusKey(rec), []byte{}); err != nil {
			return err
		}
	}
	if err := moveEnded(tx, &old, rec); err != nil { // retention.go
		return err
	}
	if err := putWaiting(tx, &old, rec, st.WakeAt); err != nil { // waiting.go
		return err
	}
	un := tx.Bucket(bktUnfinished)
	switch {
	case !old.Status.Terminal() && rec.Status.Terminal():
		if err := rollUpEnded(tx, rec); err != nil { // stats.go
			return err
		}
		return un.Delete(unfinishedKey(rec))
	case old.Status.Terminal() && !rec.Status.Terminal():
		// Not a transition the runtime makes today, but the index must
		// follow the record whatever the caller does.
		return un.Put(unfinishedKey(rec), []byte{})
	}
	return nil
}
