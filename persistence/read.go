package persistence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/weft-run/weft/events"
)

// Reads run in bbolt read transactions, concurrently with each other and
// with the writer. Everything returned is decoded from JSON inside the
// transaction: bbolt's bytes point into the mmap and are invalid after it.

// ctxCheckEvery is how many items a long scan reads between ctx checks.
const ctxCheckEvery = 256

func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Execution returns the record of id with LastSeq read from its log, or an
// error wrapping ErrNotFound.
func (s *Store) Execution(ctx context.Context, id string) (Execution, error) {
	var e Execution
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		e, err = loadExecution(tx, id)
		return err
	})
	return e, err
}

// Events returns the events of id with seq > afterSeq in seq order, at most
// limit of them (limit <= 0: all). An unknown execution is ErrNotFound; a
// known one with nothing after afterSeq is an empty slice.
func (s *Store) Events(ctx context.Context, id string, afterSeq uint64, limit int) ([]events.Event, error) {
	out := []events.Event{} // not nil: it encodes as [], not null
	err := s.walkLog(ctx, id, afterSeq, limit, func(seq uint64, v []byte) error {
		var ev events.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("persistence: decode event seq %d of %s: %w", seq, id, err)
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StoredEvents is Events without decoding: each event's stored bytes (a
// copy: bbolt's memory dies with the transaction), seq and type, which is
// all a subscriber needs to frame it.
func (s *Store) StoredEvents(ctx context.Context, id string, afterSeq uint64, limit int) ([]events.Stored, error) {
	var out []events.Stored
	err := s.walkLog(ctx, id, afterSeq, limit, func(seq uint64, v []byte) error {
		st, err := events.ParseStored(seq, bytes.Clone(v))
		if err != nil {
			return fmt.Errorf("persistence: %s: %w", id, err)
		}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walkLog calls fn with each stored event of id after afterSeq, in seq
// order, at most limit of them (limit <= 0: all), in one read
// transaction. v is bbolt's memory: fn must copy what it keeps. Packed
// llm_delta records come unpacked (eachEvent, pack.go).
func (s *Store) walkLog(ctx context.Context, id string, afterSeq uint64, limit int, fn func(seq uint64, v []byte) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bktExecutions).Get([]byte(id)) == nil {
			return fmt.Errorf("execution %s: %w", id, ErrNotFound)
		}
		log := tx.Bucket(bktEvents).Bucket([]byte(id))
		if log == nil || afterSeq == ^uint64(0) {
			return nil
		}
		n := 0
		return eachEvent(log, afterSeq, func(seq uint64, v []byte) error {
			if limit > 0 && n >= limit {
				return errStopEvents
			}
			if n%ctxCheckEvery == ctxCheckEvery-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			n++
			return fn(seq, v)
		})
	})
}

// Steps returns the recorded steps of id by step id (empty, not nil, when
// none are recorded), or ErrNotFound.
func (s *Store) Steps(ctx context.Context, id string) (map[string]Step, error) {
	out := map[string]Step{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bktExecutions).Get([]byte(id)) == nil {
			return fmt.Errorf("execution %s: %w", id, ErrNotFound)
		}
		sb := tx.Bucket(bktSteps).Bucket([]byte(id))
		if sb == nil {
			return nil
		}
		return sb.ForEach(func(k, v []byte) error {
			var st Step
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("persistence: decode step %q of %s: %w", k, id, err)
			}
			out[string(k)] = st
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Unfinished returns every execution whose status is not terminal, oldest
// first (CreatedAt, then id): what must be resumed after a restart. It reads
// the unfinished index, so its cost follows the number of live executions,
// not the size of the history.
func (s *Store) Unfinished(ctx context.Context) ([]Execution, error) {
	var out []Execution
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktUnfinished).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(out)%ctxCheckEvery == ctxCheckEvery-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if len(k) <= timeLen {
				return fmt.Errorf("persistence: malformed unfinished key %x", k)
			}
			e, err := loadExecution(tx, string(k[timeLen:]))
			if err != nil {
				return fmt.Errorf("persistence: unfinished index: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// loadExecution decodes the record of id and fills LastSeq from its log.
func loadExecution(tx *bolt.Tx, id string) (Execution, error) {
	var e Execution
	raw := tx.Bucket(bktExecutions).Get([]byte(id))
	if raw == nil {
		return e, fmt.Errorf("execution %s: %w", id, ErrNotFound)
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("persistence: decode execution %s: %w", id, err)
	}
	e.LastSeq = lastSeq(tx, []byte(id))
	return e, nil
}

// lastSeq is the seq of the last event of id, 0 if it has none. Appends do
// not touch the record, so this is the only place LastSeq comes from.
func lastSeq(tx *bolt.Tx, id []byte) uint64 {
	log := tx.Bucket(bktEvents).Bucket(id)
	if log == nil {
		return 0
	}
	return lastSeqIn(log)
}

func lastSeqIn(log *bolt.Bucket) uint64 {
	k, _ := log.Cursor().Last()
	if len(k) != 8 {
		return 0
	}
	return seqOf(k)
}
