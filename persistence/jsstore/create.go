package jsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// recordValue is an execution's record in the records bucket.
type recordValue struct {
	Exec persistence.Execution `json:"exec"`
	// At is the stream sequence of the write whose status the record
	// holds (0: the status it was created with). A status is applied only
	// over an older one, so a write applied twice, or late, never undoes a
	// newer status.
	At uint64 `json:"at,omitempty"`
	// First is the first event's stored bytes, kept until the record is
	// next rewritten, so that anyone who finds the record without its
	// first event (its creator died in between) can publish it.
	First []byte `json:"first,omitempty"`
	// FirstCommit is the commit part stored with the first event (a
	// rerun's reused checkpoints), kept with First for the same reason.
	FirstCommit []byte `json:"first_commit,omitempty"`
	// Importing marks a record whose import has not finished (its log,
	// checkpoints or entries may be incomplete): reads treat it as gone,
	// and importing the same record again finishes it (portable.go).
	Importing bool `json:"importing,omitempty"`
	// Deleting marks a record whose execution is being removed: reads
	// treat it as gone.
	Deleting bool `json:"deleting,omitempty"`
}

// CreateExecution stores a new execution and its first event (seq 1) with
// its index entries. With exec.IdempotencyKey set, the first create with
// that key (per workspace and workflow) wins, cluster-wide; the others
// write nothing and get a copy of the winner back as existing.
//
// The writes, in order: the record (created only if absent: a duplicate id
// is persistence.ErrExists), the idempotency key (created only if absent),
// the list and unfinished entries, then the first event, fenced on an
// empty subject. If the caller dies part way, what is there is found and
// completed by the next reader (Execution publishes a missing first event
// from the record); a record that lost its idempotency key race is purged.
func (s *Store) CreateExecution(ctx context.Context, exec persistence.Execution, first events.Event) (existing *persistence.Execution, err error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	if err := validateCreate(exec, first); err != nil {
		return nil, err
	}
	st, err := events.Encode(first)
	if err != nil {
		return nil, fmt.Errorf("jsstore: encode first event of %s: %w", exec.ID, err)
	}
	exec.LastSeq = 0 // derived from the log on read
	rv := recordValue{Exec: exec, First: st.JSON}
	raw, err := json.Marshal(rv)
	if err != nil {
		return nil, fmt.Errorf("jsstore: encode execution %s: %w", exec.ID, err)
	}
	_, err = s.records.Create(ctx, recordKey(exec.ID), raw)
	if errors.Is(err, jetstream.ErrKeyExists) {
		// Ours, if an attempt that timed out did land; else a duplicate.
		if err = s.ownRecord(ctx, exec.ID, raw); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jsstore: create %s: %w", exec.ID, err)
	}
	if exec.IdempotencyKey != "" {
		winner, err := s.claimKey(ctx, exec)
		if err != nil || winner != nil {
			// Lost the race (or could not tell): this record must not
			// stay to be found by id.
			s.purge(ctx, s.recordsS, kvSubject(s.names.records, recordKey(exec.ID)))
			return winner, err
		}
	}
	// The node that runs the execution reads where its log ends before
	// its first append: it may not be this one.
	err = parallel(
		func() error { return s.putList(ctx, exec) },
		func() error { return s.putUnfinished(ctx, exec, time.Time{}) },
		func() (err error) { _, err = s.publishFirst(ctx, exec, st.JSON, nil); return err },
	)
	if err != nil {
		return nil, err
	}
	return nil, nil
}

// ownRecord returns nil if the record of id holds raw, and
// persistence.ErrExists if it holds another.
func (s *Store) ownRecord(ctx context.Context, id string, raw []byte) error {
	entry, err := s.records.Get(ctx, recordKey(id))
	if err == nil && bytes.Equal(entry.Value(), raw) {
		return nil
	}
	if err == nil || notFound(err) {
		return fmt.Errorf("%w: %s", persistence.ErrExists, id)
	}
	return fmt.Errorf("jsstore: create %s: %w", id, err)
}

func validateCreate(exec persistence.Execution, first events.Event) error {
	switch {
	case exec.ID == "" || len(exec.ID) > maxIDLen:
		return fmt.Errorf("%w: execution id %q", persistence.ErrInvalid, exec.ID)
	case exec.Workspace == "" || len(exec.Workspace) > maxIDLen:
		return fmt.Errorf("%w: execution %s has no workspace (or one too long)", persistence.ErrInvalid, exec.ID)
	case !exec.Status.Valid():
		return fmt.Errorf("%w: execution %s has status %q", persistence.ErrInvalid, exec.ID, exec.Status)
	case first.Seq() != 1:
		return fmt.Errorf("%w: first event of %s has seq %d, want 1", persistence.ErrSeqGap, exec.ID, first.Seq())
	case first.Data.ExecutionID != "" && first.Data.ExecutionID != exec.ID:
		return fmt.Errorf("%w: first event of %s belongs to %s", persistence.ErrInvalid, exec.ID, first.Data.ExecutionID)
	case len(exec.Workflow) > maxIDLen || len(exec.IdempotencyKey) > maxIDLen:
		return fmt.Errorf("%w: workflow name or idempotency key of %s is too long", persistence.ErrInvalid, exec.ID)
	}
	return nil
}

// claimKey creates exec's idempotency key. If another execution holds it,
// claimKey returns that one (nil when exec won).
func (s *Store) claimKey(ctx context.Context, exec persistence.Execution) (*persistence.Execution, error) {
	key := idemKey(exec.Workspace, exec.Workflow, exec.IdempotencyKey)
	for range 5 {
		_, err := s.idem.Create(ctx, key, []byte(exec.ID))
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("jsstore: idempotency key of %s: %w", exec.ID, err)
		}
		entry, err := s.idem.Get(ctx, key)
		if notFound(err) {
			continue // removed with its execution meanwhile: try again
		}
		if err != nil {
			return nil, fmt.Errorf("jsstore: idempotency key of %s: %w", exec.ID, err)
		}
		other := string(entry.Value())
		if other == exec.ID {
			return nil, nil // an earlier attempt of ours landed
		}
		winner, err := s.loadExecution(ctx, other)
		if errors.Is(err, persistence.ErrNotFound) {
			// A key left behind by an execution being deleted: take it
			// over, if nobody else does first.
			if _, err := s.idem.Update(ctx, key, []byte(exec.ID), entry.Revision()); err == nil {
				return nil, nil
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return &winner, nil
	}
	return nil, fmt.Errorf("jsstore: idempotency key of %s keeps changing", exec.ID)
}

// publishFirst appends the first event of exec to its empty subject. Its
// message id is the same whoever publishes it (the creator, or a reader
// completing a create), so the second publish within the dedup window is
// answered as a duplicate; after it, the fence on the empty subject
// refuses it and the stored first message is compared instead.
func (s *Store) publishFirst(ctx context.Context, exec persistence.Execution, first, commit []byte) (uint64, error) {
	subject := s.names.eventsSubject(exec.Workspace, exec.ID)
	msg := nats.NewMsg(subject)
	msg.Header.Set(seqHeader, "1")
	msg.Data = appendFrame(nil, [][]byte{first}, commit)
	ack, err := s.publish(ctx, msg, recordKey(exec.ID)+":first", 0)
	if err == nil {
		return ack.Sequence, nil
	}
	if !wrongLast(err) {
		return 0, fmt.Errorf("jsstore: first event of %s: %w", exec.ID, err)
	}
	got, err := s.events.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
	if err != nil {
		return 0, fmt.Errorf("jsstore: first event of %s: %w", exec.ID, err)
	}
	if f, err := parseFrame(got.Data); err != nil || len(f.events) == 0 || !bytes.Equal(f.events[0], first) {
		return 0, fmt.Errorf("jsstore: the log of %s starts with another event", exec.ID)
	}
	return got.Sequence, nil
}

// publish appends msg with a message id and a fence: the subject's last
// stream sequence must be expectLast. It retries through timeouts and
// leader elections (retry.go); the message id makes a retry of a publish
// that did land come back as that one.
func (s *Store) publish(ctx context.Context, msg *nats.Msg, msgID string, expectLast uint64) (*jetstream.PubAck, error) {
	return retry1(ctx, func(ctx context.Context) (*jetstream.PubAck, error) {
		return s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectLastSequencePerSubject(expectLast))
	})
}

// Execution returns the record of id with LastSeq read from its log, or an
// error wrapping persistence.ErrNotFound.
func (s *Store) Execution(ctx context.Context, id string) (persistence.Execution, error) {
	if err := s.open(); err != nil {
		return persistence.Execution{}, err
	}
	return s.loadExecution(ctx, id)
}

// loadExecution reads the record of id and the last seq of its log from
// the stream leaders. A record whose first event is missing (its creator
// died before publishing it) gets it now.
func (s *Store) loadExecution(ctx context.Context, id string) (persistence.Execution, error) {
	rv, _, err := s.getRecord(ctx, id)
	if err != nil {
		return persistence.Execution{}, err
	}
	last, err := s.lastMessage(ctx, s.names.eventsSubject(rv.Exec.Workspace, id))
	if err != nil {
		return persistence.Execution{}, err
	}
	e := rv.Exec
	switch {
	case last != nil:
		e.LastSeq = last.seq
	case rv.First != nil:
		if _, err := s.publishFirst(ctx, e, rv.First, rv.FirstCommit); err != nil {
			return persistence.Execution{}, err
		}
		e.LastSeq = 1
	}
	return e, nil
}

// getRecord reads the record of id and its revision; a record being
// deleted or imported is not there yet (or any more).
func (s *Store) getRecord(ctx context.Context, id string) (recordValue, uint64, error) {
	rv, rev, err := s.rawRecord(ctx, id)
	if err == nil && (rv.Deleting || rv.Importing) {
		return rv, 0, fmt.Errorf("execution %s: %w", id, persistence.ErrNotFound)
	}
	return rv, rev, err
}

// lastMsg is the last message of an execution's log: its stream sequence,
// the log's last seq, and its frame.
type lastMsg struct {
	streamSeq, seq uint64
	frame          frame
}

// lastMessage reads the last message of subject from the events stream's
// leader (nil when the subject has none).
func (s *Store) lastMessage(ctx context.Context, subject string) (*lastMsg, error) {
	raw, err := s.events.GetLastMsgForSubject(ctx, subject)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jsstore: read the end of %s: %w", subject, err)
	}
	seq, err := frameSeq(raw.Header)
	if err != nil {
		return nil, fmt.Errorf("%s at %d: %w", subject, raw.Sequence, err)
	}
	f, err := parseFrame(raw.Data)
	if err != nil {
		return nil, fmt.Errorf("%s at %d: %w", subject, raw.Sequence, err)
	}
	return &lastMsg{streamSeq: raw.Sequence, seq: seq, frame: f}, nil
}

// ExecutionByIdempotencyKey returns the id of the execution of workspace
// ws and workflow created with key, and whether there is one.
func (s *Store) ExecutionByIdempotencyKey(ctx context.Context, ws, workflow, key string) (string, bool, error) {
	if err := s.open(); err != nil {
		return "", false, err
	}
	entry, err := s.idem.Get(ctx, idemKey(ws, workflow, key))
	if notFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("jsstore: idempotency key: %w", err)
	}
	return string(entry.Value()), true, nil
}

// purge removes every message of subject from st, best effort: what it
// leaves is garbage nobody can reach (a record that lost its idempotency
// race), not state.
func (s *Store) purge(ctx context.Context, st jetstream.Stream, subject string) {
	_ = st.Purge(ctx, jetstream.WithPurgeSubject(subject))
}
