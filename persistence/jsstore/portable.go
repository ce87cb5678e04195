package jsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// A rerun's new execution, and export and import, with the bbolt store's
// semantics (persistence/portable.go).

// CreateExecutionWithSteps is CreateExecution that also stores step
// checkpoints (a rerun's reused steps) with the first event: they are its
// message's commit part, so the execution's first write holds them, and
// whoever runs it finds them even if this node dies before applying them
// (the record keeps them with the first event, and the next writer applies
// the log's last write again). exec must carry no idempotency key.
func (s *Store) CreateExecutionWithSteps(ctx context.Context, exec persistence.Execution, first events.Event, steps []persistence.Step) error {
	if err := s.open(); err != nil {
		return err
	}
	if exec.IdempotencyKey != "" {
		return fmt.Errorf("%w: CreateExecutionWithSteps takes no idempotency key", persistence.ErrInvalid)
	}
	if err := validateCreate(exec, first); err != nil {
		return err
	}
	commit, commitRaw, err := stepsCommit(exec.ID, steps)
	if err != nil {
		return err
	}
	st, err := events.Encode(first)
	if err != nil {
		return fmt.Errorf("jsstore: encode first event of %s: %w", exec.ID, err)
	}
	exec.LastSeq = 0
	rv := recordValue{Exec: exec, First: st.JSON, FirstCommit: commitRaw}
	raw, err := json.Marshal(rv)
	if err != nil {
		return fmt.Errorf("jsstore: encode execution %s: %w", exec.ID, err)
	}
	if _, err = s.records.Create(ctx, recordKey(exec.ID), raw); errors.Is(err, jetstream.ErrKeyExists) {
		err = s.ownRecord(ctx, exec.ID, raw)
	}
	if err != nil {
		return fmt.Errorf("jsstore: create %s: %w", exec.ID, err)
	}
	var at uint64
	err = parallel(
		func() error { return s.putList(ctx, exec) },
		func() error { return s.putUnfinished(ctx, exec, time.Time{}) },
		func() (err error) { at, err = s.publishFirst(ctx, exec, st.JSON, commitRaw); return err },
	)
	if err != nil {
		return err
	}
	return s.project(ctx, &logState{rec: rv}, commit, at)
}

// stepsCommit is the commit part holding steps (nil when there are none).
func stepsCommit(id string, steps []persistence.Step) (*commitPart, []byte, error) {
	if len(steps) == 0 {
		return nil, nil, nil
	}
	for _, st := range steps {
		if st.ID == "" || len(st.ID) > maxIDLen {
			return nil, nil, fmt.Errorf("%w: step %q of %s", persistence.ErrInvalid, st.ID, id)
		}
	}
	c := &commitPart{Steps: steps}
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: steps of %s: %v", persistence.ErrInvalid, id, err)
	}
	return c, raw, nil
}

// projectFirst applies the commit part a record kept with its first event,
// once that event is published (by a reader completing a create).
func (s *Store) projectFirst(ctx context.Context, st *logState, commitRaw []byte) error {
	c, err := decodeCommit(commitRaw)
	if err != nil {
		return fmt.Errorf("execution %s: %w", st.rec.Exec.ID, err)
	}
	return s.project(ctx, st, c, st.lastStream)
}

// Export reads execution id whole: record, checkpoints (in step id
// order), pending signals and the event log, as persistence.Store.Export
// does. The reads are not one snapshot: the record first, then the
// checkpoints and signals, then the log, so that the log holds at least
// what the checkpoints record; last_seq is the log's. An execution that
// is still running may thus be exported with a status older than its log
// (an import resumes it either way).
func (s *Store) Export(ctx context.Context, id string) (persistence.Record, error) {
	rec := persistence.Record{Version: persistence.ExportVersion, Steps: []persistence.Step{}, Events: []json.RawMessage{}}
	if err := s.open(); err != nil {
		return rec, err
	}
	e, err := s.loadExecution(ctx, id)
	if err != nil {
		return rec, err
	}
	steps, err := s.Steps(ctx, id)
	if err != nil {
		return rec, err
	}
	for _, st := range steps {
		rec.Steps = append(rec.Steps, st)
	}
	slices.SortFunc(rec.Steps, func(a, b persistence.Step) int { return strings.Compare(a.ID, b.ID) })
	if rec.Signals, err = s.Signals(ctx, id); err != nil {
		return rec, err
	}
	if len(rec.Signals) == 0 {
		rec.Signals = nil
	}
	evs, err := s.readLog(ctx, s.names.eventsSubject(e.Workspace, id), 0, 0)
	if err != nil {
		return rec, err
	}
	for _, ev := range evs {
		rec.Events = append(rec.Events, bytes.Clone(ev.JSON))
		e.LastSeq = ev.Seq
	}
	e.IdempotencyKey = ""
	rec.Execution = e
	return rec, nil
}

// Import stores rec as is, with persistence.Store.Import's semantics: an
// execution already stored whose log begins with rec's events is
// persistence.ErrExists and nothing is written; one with another
// workspace, workflow or history is persistence.ErrImportConflict; a
// malformed record is persistence.ErrInvalid (ErrSeqGap for events out of
// order). The idempotency key is not carried over.
//
// It is not one transaction: the record goes first, marked importing
// (reads take it as absent), then the log (fenced on an empty subject, a
// message per part as large as NATS takes, the checkpoints in the last),
// the checkpoints, the pending signals (new seqs: a signal's seq is its
// message's in this stream), the list, unfinished and ended entries, and
// last the record unmarked. An import cut short is finished by importing
// the same record again. An imported execution that has not ended is
// resumed by the node holding its partition, as after a takeover.
func (s *Store) Import(ctx context.Context, rec persistence.Record) error {
	if err := s.open(); err != nil {
		return err
	}
	e, evs, err := persistence.PrepareImport(rec)
	if err != nil {
		return err
	}
	if len(e.ID) > maxIDLen || len(e.Workspace) > maxIDLen || len(e.Workflow) > maxIDLen {
		return fmt.Errorf("%w: execution id, workspace or workflow of %q too long", persistence.ErrInvalid, e.ID)
	}
	commit, commitRaw, err := stepsCommit(e.ID, rec.Steps)
	if err != nil {
		return err
	}
	rv := recordValue{Exec: e, Importing: true}
	raw, err := json.Marshal(rv)
	if err != nil {
		return fmt.Errorf("jsstore: encode execution %s: %w", e.ID, err)
	}
	rev, err := s.records.Create(ctx, recordKey(e.ID), raw)
	if errors.Is(err, jetstream.ErrKeyExists) {
		if rev, err = s.importedBefore(ctx, e, evs, raw); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("jsstore: import %s: %w", e.ID, err)
	}
	st := &logState{rec: rv, recRev: rev, subject: s.names.eventsSubject(e.Workspace, e.ID)}
	if err := s.importLog(ctx, st, evs, commitRaw); err != nil {
		return err
	}
	if err := s.project(ctx, st, commit, st.lastStream); err != nil {
		return err
	}
	if err := s.importSignals(ctx, e, rec.Signals); err != nil {
		return err
	}
	err = parallel(
		func() error { return s.putList(ctx, e) },
		func() error { return s.putUnfinished(ctx, e, time.Time{}) },
		func() error { return s.recordEnd(ctx, e) },
	)
	if err != nil {
		return err
	}
	rv.Importing = false
	if raw, err = json.Marshal(rv); err != nil {
		return fmt.Errorf("jsstore: encode execution %s: %w", e.ID, err)
	}
	if _, err := s.records.Update(ctx, recordKey(e.ID), raw, st.recRev); err != nil {
		return fmt.Errorf("jsstore: import %s: finish: %w", e.ID, err)
	}
	return nil
}

// importedBefore decides about an import of an id already stored: the same
// import cut short goes on (its record's revision), the same import done
// is ErrExists, anything else ErrImportConflict.
func (s *Store) importedBefore(ctx context.Context, e persistence.Execution, evs [][]byte, raw []byte) (uint64, error) {
	entry, err := s.records.Get(ctx, recordKey(e.ID))
	if err != nil {
		return 0, fmt.Errorf("jsstore: import %s: %w", e.ID, err)
	}
	if bytes.Equal(entry.Value(), raw) {
		return entry.Revision(), nil // ours, cut short: finish it
	}
	var stored recordValue
	if err := json.Unmarshal(entry.Value(), &stored); err != nil {
		return 0, fmt.Errorf("%w: execution %s: %v", ErrCorrupt, e.ID, err)
	}
	if stored.Importing || stored.Deleting || stored.Exec.Workspace != e.Workspace || stored.Exec.Workflow != e.Workflow {
		return 0, fmt.Errorf("%w: %s", persistence.ErrImportConflict, e.ID)
	}
	log, err := s.readLog(ctx, s.names.eventsSubject(e.Workspace, e.ID), 0, len(evs))
	if err != nil {
		return 0, err
	}
	if !prefixOf(log, evs) || len(log) != len(evs) {
		return 0, fmt.Errorf("%w: %s", persistence.ErrImportConflict, e.ID)
	}
	return 0, fmt.Errorf("%w: %s", persistence.ErrExists, e.ID)
}

// prefixOf reports whether log's events are the first of evs, byte for
// byte.
func prefixOf(log []events.Stored, evs [][]byte) bool {
	if len(log) > len(evs) {
		return false
	}
	for i, ev := range log {
		if !bytes.Equal(ev.JSON, evs[i]) {
			return false
		}
	}
	return true
}

// importLog appends evs to the empty log of st (or, for an import cut
// short, to the part of them stored), fenced, the checkpoints in the last
// message. It leaves st at the log's last message.
func (s *Store) importLog(ctx context.Context, st *logState, evs [][]byte, commitRaw []byte) error {
	id := st.rec.Exec.ID
	stored, err := s.readLog(ctx, st.subject, 0, 0)
	if err != nil {
		return err
	}
	if !prefixOf(stored, evs) {
		return fmt.Errorf("%w: %s: the log holds other events", persistence.ErrImportConflict, id)
	}
	if last, err := s.lastMessage(ctx, st.subject); err != nil {
		return err
	} else if last != nil {
		st.lastStream, st.lastSeq = last.streamSeq, last.seq
		if len(stored) == len(evs) {
			return nil // a resumed import that had stored them all
		}
	}
	parts, err := splitEvents(evs[len(stored):], len(commitRaw), s.maxBody)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", persistence.ErrInvalid, id, err)
	}
	for i, part := range parts {
		var commit []byte
		if i == len(parts)-1 {
			commit = commitRaw
		}
		seq := st.lastSeq + uint64(len(part))
		msg := nats.NewMsg(st.subject)
		msg.Header.Set(seqHeader, strconv.FormatUint(seq, 10))
		msg.Data = appendFrame(nil, part, commit)
		msgID := recordKey(id) + ":import:" + strconv.FormatUint(seq, 10)
		ack, err := s.publish(ctx, msg, msgID, st.lastStream)
		var at uint64
		switch {
		case err == nil:
			at = ack.Sequence
		case wrongLast(err):
			if at, err = s.ownNext(ctx, st, msgID, err); err != nil {
				return fmt.Errorf("%w: %s: %v", persistence.ErrImportConflict, id, err)
			}
		default:
			return fmt.Errorf("jsstore: import %s: %w", id, err)
		}
		st.lastStream, st.lastSeq = at, seq
	}
	return nil
}

// importSignals appends the pending signals to the execution's empty
// inbox (after those an import cut short stored), each fenced on the one
// before.
func (s *Store) importSignals(ctx context.Context, e persistence.Execution, sigs []persistence.Signal) error {
	subject := s.names.signalsSubject(e.Workspace, e.ID)
	var last uint64
	n := 0
	err := eachMsg(ctx, s.signals, subject, func(raw *jetstream.RawStreamMsg) error {
		last = raw.Sequence
		n++
		return nil
	})
	if err != nil {
		return err
	}
	for i, sig := range sigs[min(n, len(sigs)):] {
		msg := nats.NewMsg(subject)
		if msg.Data, err = json.Marshal(signalValue{Name: sig.Name, Payload: sig.Payload, ReceivedAt: sig.ReceivedAt}); err != nil {
			return fmt.Errorf("%w: signal %d of %s: %v", persistence.ErrInvalid, sig.Seq, e.ID, err)
		}
		ack, err := s.publish(ctx, msg, recordKey(e.ID)+":import-signal:"+strconv.Itoa(n+i), last)
		if err != nil {
			return fmt.Errorf("jsstore: import the signals of %s: %w", e.ID, err)
		}
		last = ack.Sequence
	}
	return nil
}
