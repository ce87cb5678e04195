package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/persistence"
)

// Projections: after a write's message is stored, its checkpoints, status
// and consumed signals are applied to the buckets (and the signals
// stream). Applying a write is idempotent and never undoes a later one:
// each checkpoint and the record carry the stream sequence of the write
// that set them ("at"), and a value is replaced, by compare-and-set, only
// if it is older. So the writer, a writer that was fenced a moment after
// its last append, and the next owner re-applying the log's last write
// (logState) may all apply the same write, in any order.

// stepValue is a checkpoint in the steps bucket.
type stepValue struct {
	At   uint64           `json:"at"`
	Step persistence.Step `json:"step"`
}

// casAttempts bounds a compare-and-set loop: each lost round means
// another writer changed the key meanwhile, which happens only around a
// takeover.
const casAttempts = 5

// project applies c, the commit part of the write stored at stream
// sequence at, for the execution of st.
func (s *Store) project(ctx context.Context, st *logState, c *commitPart, at uint64) error {
	if c.empty() {
		return nil
	}
	id := st.rec.Exec.ID // st.rec is applyStatus's while they run
	var fns []func() error
	for _, step := range lastOfEach(c.Steps) {
		fns = append(fns, func() error { return s.putStep(ctx, id, &st.stepRevs, step, at) })
	}
	for _, seq := range c.Consume {
		fns = append(fns, func() error { return s.consumeSignal(ctx, seq) })
	}
	if c.Status != nil {
		fns = append(fns, func() error { return s.applyStatus(ctx, st, c.Status, at) })
	}
	return parallel(fns...)
}

// lastOfEach keeps the last checkpoint of each step (a write may hold a
// step pending and then completed): they are written at once, so only the
// last may be.
func lastOfEach(steps []persistence.Step) []persistence.Step {
	last := make(map[string]int, len(steps))
	for i, st := range steps {
		last[st.ID] = i
	}
	if len(last) == len(steps) {
		return steps
	}
	out := make([]persistence.Step, 0, len(last))
	for i, st := range steps {
		if last[st.ID] == i {
			out = append(out, st)
		}
	}
	return out
}

// putStep writes one checkpoint unless a newer write already has.
func (s *Store) putStep(ctx context.Context, id string, revs *stepRevs, step persistence.Step, at uint64) error {
	key := stepKey(id, step.ID)
	raw, err := json.Marshal(stepValue{At: at, Step: step})
	if err != nil {
		return fmt.Errorf("jsstore: encode step %s of %s: %w", step.ID, id, err)
	}
	remember := func(rev uint64) { revs.set(key, rev) }
	rev, known := revs.get(key)
	// The common case: this store wrote the key last (or nobody has).
	var newRev uint64
	if known {
		newRev, err = s.steps.Update(ctx, key, raw, rev)
	} else {
		newRev, err = s.steps.Create(ctx, key, raw)
	}
	if err == nil {
		remember(newRev)
		return nil
	}
	if !casLost(err) {
		return fmt.Errorf("jsstore: step %s of %s: %w", step.ID, id, err)
	}
	for range casAttempts {
		entry, err := s.steps.Get(ctx, key)
		if notFound(err) {
			if newRev, err = s.steps.Create(ctx, key, raw); err == nil {
				remember(newRev)
				return nil
			}
		} else if err == nil {
			var cur stepValue
			if err := json.Unmarshal(entry.Value(), &cur); err != nil {
				return fmt.Errorf("%w: step %s of %s: %v", ErrCorrupt, step.ID, id, err)
			}
			if cur.At >= at {
				remember(entry.Revision())
				return nil // this write, or a later one, is there
			}
			if newRev, err = s.steps.Update(ctx, key, raw, entry.Revision()); err == nil {
				remember(newRev)
				return nil
			}
		}
		if !casLost(err) {
			return fmt.Errorf("jsstore: step %s of %s: %w", step.ID, id, err)
		}
	}
	return fmt.Errorf("jsstore: step %s of %s keeps changing under this write", step.ID, id)
}

// stepRevs are the revisions of the step keys a writer wrote last, so
// that its next checkpoint of a step is one compare-and-set, without a
// read. The step goroutines of one write share it.
type stepRevs struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (r *stepRevs) get(key string) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rev, ok := r.m[key]
	return rev, ok
}

func (r *stepRevs) set(key string, rev uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]uint64{}
	}
	r.m[key] = rev
}

// casLost reports whether a KV Create or Update lost to another writer.
func casLost(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || wrongLast(err)
}

// consumeSignal deletes a signal from its inbox; one already gone is fine.
func (s *Store) consumeSignal(ctx context.Context, seq uint64) error {
	err := s.signals.DeleteMsg(ctx, seq)
	if err != nil && !notFound(err) && !deleteOfMissing(err) {
		return fmt.Errorf("jsstore: consume signal %d: %w", seq, err)
	}
	return nil
}

// deleteOfMissing reports whether err is JetStream's refusal to delete a
// message that is not there. nats.go flattens the server's error into
// text ("no message found" inside the stream, "sequence N not found"
// before its first message), so the text is all there is.
func deleteOfMissing(err error) bool {
	if !errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "no message found") || strings.Contains(msg, "not found")
}

// applyStatus rewrites the record with sp unless a newer write already
// has, then the record's list and unfinished entries.
func (s *Store) applyStatus(ctx context.Context, st *logState, sp *statusPart, at uint64) error {
	id := st.rec.Exec.ID
	for attempt := 0; st.rec.At < at; attempt++ {
		if attempt == casAttempts {
			return fmt.Errorf("jsstore: the record of %s keeps changing under this write", id)
		}
		next := st.rec
		next.Exec.Status, next.Exec.Result, next.Exec.Error, next.Exec.UpdatedAt = sp.Status, sp.Result, sp.Error, sp.At
		next.At, next.First, next.FirstCommit = at, nil, nil
		raw, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("jsstore: encode execution %s: %w", id, err)
		}
		rev, err := s.records.Update(ctx, recordKey(id), raw, st.recRev)
		if err == nil {
			st.rec, st.recRev = next, rev
			break
		}
		if !casLost(err) {
			return fmt.Errorf("jsstore: status of %s: %w", id, err)
		}
		if st.rec, st.recRev, err = s.getRecord(ctx, id); err != nil {
			return err
		}
	}
	st.ended = st.rec.Exec.Status.Terminal()
	if st.rec.At != at {
		return nil // a later write set the status, and its entries
	}
	// The end is counted in the stats and entered in the ended index
	// (retention) here, by whoever applies the write: recordEnd does both
	// once per execution, however often the write is re-applied.
	return parallel(
		func() error { return s.putList(ctx, st.rec.Exec) },
		func() error { return s.putUnfinished(ctx, st.rec.Exec, sp.WakeAt) },
		func() error { return s.recordEnd(ctx, st.rec.Exec) },
	)
}

// parallel runs fns at once and returns their errors joined.
func parallel(fns ...func() error) error {
	if len(fns) == 1 {
		return fns[0]()
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
