package persistence

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-run/weft/events"
)

// ExportVersion is the version of the portable record format. A reader
// refuses records of a version it does not know rather than guess.
const ExportVersion = 1

// Record is one execution in portable form: its record, its step
// checkpoints and its whole event log, as one JSON object (one line of a
// `weft export` file). Events are kept as the exact bytes the store holds,
// so an export imported elsewhere has a byte-identical history.
type Record struct {
	Version   int               `json:"version"`
	Execution Execution         `json:"execution"`
	Steps     []Step            `json:"steps"`
	Events    []json.RawMessage `json:"events"`
	// Signals still waiting in the execution's inbox (sent, not consumed).
	Signals []Signal `json:"signals,omitempty"`
}

// ErrImportConflict rejects an Import of an execution id that is already
// stored with another history (not the same import done before).
var ErrImportConflict = errors.New("persistence: execution already stored with another history")

// Export reads execution id, its steps, pending signals and its events in
// one read transaction (a consistent cut). Steps are in key order;
// last_seq is the log's. The idempotency key is left out: Import does not
// carry it over, so an export of an import is the same bytes.
func (s *Store) Export(ctx context.Context, id string) (Record, error) {
	rec := Record{Version: ExportVersion, Steps: []Step{}, Events: []json.RawMessage{}}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		e, err := loadExecution(tx, id)
		if err != nil {
			return err
		}
		e.IdempotencyKey = ""
		rec.Execution = e
		if sb := tx.Bucket(bktSteps).Bucket([]byte(id)); sb != nil {
			err := sb.ForEach(func(k, v []byte) error {
				var st Step
				if err := json.Unmarshal(v, &st); err != nil {
					return fmt.Errorf("persistence: decode step %q of %s: %w", k, id, err)
				}
				rec.Steps = append(rec.Steps, st)
				return nil
			})
			if err != nil {
				return err
			}
		}
		if inbox := tx.Bucket(bktSignals).Bucket([]byte(id)); inbox != nil {
			err := inbox.ForEach(func(_, v []byte) error {
				var sig Signal
				if err := json.Unmarshal(v, &sig); err != nil {
					return fmt.Errorf("persistence: decode signal of %s: %w", id, err)
				}
				rec.Signals = append(rec.Signals, sig)
				return nil
			})
			if err != nil {
				return err
			}
		}
		if log := tx.Bucket(bktEvents).Bucket([]byte(id)); log != nil {
			// Packed llm_delta records come back as the events they hold.
			return eachEvent(log, 0, func(_ uint64, raw []byte) error {
				rec.Events = append(rec.Events, bytes.Clone(raw)) // raw dies with the call
				return nil
			})
		}
		return nil
	})
	return rec, err
}

// MaxRecordBytes bounds one line of an export file read by ReadRecords.
const MaxRecordBytes = 256 << 20

// ReadRecords reads an export file as JSON lines, calling fn with each
// record and its line number (1-based; blank lines are skipped). It holds
// one line at a time. A line that is not a record of ExportVersion is an
// ErrInvalid naming the line; an error of fn is returned as is.
func ReadRecords(r io.Reader, fn func(line int, rec Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxRecordBytes)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("%w: line %d: not a record: %v", ErrInvalid, line, err)
		}
		if rec.Version != ExportVersion {
			return fmt.Errorf("%w: line %d: record version %d, this weft reads %d", ErrInvalid, line, rec.Version, ExportVersion)
		}
		if err := fn(line, rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w: line %d: longer than %d bytes", ErrInvalid, line+1, MaxRecordBytes)
		}
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

// Scan calls fn with every stored execution of every workspace, in id
// order, for tools that read a whole data dir (export, replay checks,
// listings of a stopped server). fn must not call the Store's write
// methods: the read transaction is open while it runs.
func (s *Store) Scan(ctx context.Context, fn func(Execution) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktExecutions).Cursor()
		n := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if n++; n%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			e, err := loadExecution(tx, string(k))
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Import stores rec as is: record, indexes, steps, pending signals and the
// event log, in one transaction. Importing is idempotent: an execution with
// the same id already stored whose event log begins with rec's events (the
// same import, possibly resumed and advanced since) is ErrExists and
// nothing is written; one with another workspace, workflow or history is
// ErrImportConflict. A malformed record is ErrInvalid (or ErrSeqGap for
// events out of order). The idempotency key is not
// carried over (it belongs to the workspace that issued it; an import must
// not capture a later start's key). An imported execution that has not
// ended is resumed like any unfinished one the next time a server opens
// the store.
func (s *Store) Import(ctx context.Context, rec Record) error {
	o, err := newImportOp(rec)
	if err != nil {
		return err
	}
	return s.do(ctx, o)
}

type importOp struct {
	exec    Execution
	record  []byte
	steps   [][2][]byte
	signals [][2][]byte
	events  [][]byte
}

// PrepareImport checks rec as Import does, for every store's Import: it
// returns the execution as it is stored (no last_seq, no idempotency key)
// and its events as the canonical bytes a store holds, seq 1 first. A
// malformed record is ErrInvalid, events out of order ErrSeqGap.
func PrepareImport(rec Record) (Execution, [][]byte, error) {
	e := rec.Execution
	switch {
	case rec.Version != ExportVersion:
		return e, nil, fmt.Errorf("%w: record version %d, this weft reads %d", ErrInvalid, rec.Version, ExportVersion)
	case e.ID == "":
		return e, nil, fmt.Errorf("%w: execution id %q", ErrInvalid, e.ID)
	case e.Workspace == "":
		return e, nil, fmt.Errorf("%w: execution %s has no workspace", ErrInvalid, e.ID)
	case !e.Status.Valid():
		return e, nil, fmt.Errorf("%w: execution %s has status %q", ErrInvalid, e.ID, e.Status)
	case len(rec.Events) == 0:
		return e, nil, fmt.Errorf("%w: execution %s has no events", ErrInvalid, e.ID)
	}
	e.LastSeq, e.IdempotencyKey = 0, ""
	evs := make([][]byte, len(rec.Events))
	for i, raw := range rec.Events {
		var head struct {
			Data struct {
				ExecutionID string `json:"execution_id"`
				Seq         uint64 `json:"seq"`
			} `json:"data"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return e, nil, fmt.Errorf("%w: event %d of %s: %v", ErrInvalid, i+1, e.ID, err)
		}
		if head.Data.Seq != uint64(i+1) || head.Data.ExecutionID != e.ID {
			return e, nil, fmt.Errorf("%w: event %d of %s has seq %d of %q", ErrSeqGap, i+1, e.ID, head.Data.Seq, head.Data.ExecutionID)
		}
		// Stored bytes must be canonical (subscribers frame them as they
		// are): a hand-made file's events are re-encoded, ours kept as is.
		st, err := events.Canonical(uint64(i+1), raw)
		if err != nil {
			return e, nil, fmt.Errorf("%w: event %d of %s: %v", ErrInvalid, i+1, e.ID, err)
		}
		evs[i] = st.JSON
	}
	return e, evs, nil
}

func newImportOp(rec Record) (*importOp, error) {
	if len(rec.Execution.ID) > bolt.MaxKeySize/2 {
		return nil, fmt.Errorf("%w: execution id %q", ErrInvalid, rec.Execution.ID)
	}
	e, evs, err := PrepareImport(rec)
	if err != nil {
		return nil, err
	}
	o := &importOp{exec: e, events: evs}
	if o.record, err = json.Marshal(e); err != nil {
		return nil, fmt.Errorf("persistence: encode execution %s: %w", e.ID, err)
	}
	for _, st := range rec.Steps {
		raw, err := json.Marshal(st)
		if err != nil || st.ID == "" {
			return nil, fmt.Errorf("%w: step %q of %s", ErrInvalid, st.ID, e.ID)
		}
		o.steps = append(o.steps, [2][]byte{[]byte(st.ID), raw})
	}
	for _, sig := range rec.Signals {
		raw, err := json.Marshal(sig)
		if err != nil {
			return nil, fmt.Errorf("%w: signal %d of %s", ErrInvalid, sig.Seq, e.ID)
		}
		o.signals = append(o.signals, [2][]byte{seqKey(sig.Seq), raw})
	}
	return o, nil
}

func (o *importOp) check(tx *bolt.Tx) error {
	if tx.Bucket(bktExecutions).Get([]byte(o.exec.ID)) == nil {
		return nil
	}
	stored, err := loadExecution(tx, o.exec.ID)
	if err != nil {
		return err
	}
	if stored.Workspace != o.exec.Workspace || stored.Workflow != o.exec.Workflow || !o.prefixOf(tx) {
		return fmt.Errorf("%w: %s", ErrImportConflict, o.exec.ID)
	}
	return fmt.Errorf("%w: %s", ErrExists, o.exec.ID)
}

// prefixOf reports whether the stored log of the execution begins with the
// record's events, byte for byte (packed records unpacked).
func (o *importOp) prefixOf(tx *bolt.Tx) bool {
	log := tx.Bucket(bktEvents).Bucket([]byte(o.exec.ID))
	if log == nil {
		return false
	}
	i, same := 0, true
	err := eachEvent(log, 0, func(_ uint64, raw []byte) error {
		if i == len(o.events) {
			return errStopEvents
		}
		if !bytes.Equal(raw, o.events[i]) {
			same = false
			return errStopEvents
		}
		i++
		return nil
	})
	return err == nil && same && i == len(o.events)
}

func (o *importOp) put(tx *bolt.Tx) error {
	id := []byte(o.exec.ID)
	if err := tx.Bucket(bktExecutions).Put(id, o.record); err != nil {
		return err
	}
	log, err := tx.Bucket(bktEvents).CreateBucketIfNotExists(id)
	if err != nil {
		return err
	}
	log.FillPercent = 1.0
	for i, raw := range o.events {
		if err := log.Put(seqKey(uint64(i+1)), raw); err != nil {
			return err
		}
	}
	if err := putPairs(tx, bktSteps, id, o.steps); err != nil {
		return err
	}
	if err := putPairs(tx, bktSignals, id, o.signals); err != nil {
		return err
	}
	return putIndexes(tx, &o.exec)
}

func putPairs(tx *bolt.Tx, top, id []byte, pairs [][2][]byte) error {
	if len(pairs) == 0 {
		return nil
	}
	b, err := tx.Bucket(top).CreateBucketIfNotExists(id)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		if err := b.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// CreateExecutionWithSteps is CreateExecution that also stores step
// checkpoints in the same transaction: a rerun's copied steps are durable
// exactly when the execution is, so a crash in between cannot make the new
// execution run them again. exec must carry no idempotency key.
func (s *Store) CreateExecutionWithSteps(ctx context.Context, exec Execution, first events.Event, steps []Step) error {
	if exec.IdempotencyKey != "" {
		return fmt.Errorf("%w: CreateExecutionWithSteps takes no idempotency key", ErrInvalid)
	}
	c, err := newCreateOp(exec, first)
	if err != nil {
		return err
	}
	o := &createWithSteps{createOp: c}
	for _, st := range steps {
		raw, err := json.Marshal(st)
		if err != nil || st.ID == "" || len(st.ID) > bolt.MaxKeySize {
			return fmt.Errorf("%w: step %q of %s", ErrInvalid, st.ID, exec.ID)
		}
		o.steps = append(o.steps, [2][]byte{[]byte(st.ID), raw})
	}
	return s.do(ctx, o)
}

type createWithSteps struct {
	*createOp
	steps [][2][]byte
}

func (o *createWithSteps) put(tx *bolt.Tx) error {
	if err := o.createOp.put(tx); err != nil {
		return err
	}
	return putPairs(tx, bktSteps, []byte(o.exec.ID), o.steps)
}
