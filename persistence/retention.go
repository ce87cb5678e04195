package persistence

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Retention: ended executions are removed once they ended longer ago than
// their workflow's retention period. To find them without reading every
// execution, the store keeps one more index:
//
//	ended        lp(workflow) asc(ended) id -> ""   (status terminal)
//
// where ended is the record's UpdatedAt once terminal (the time of its
// last status change). Grouping by workflow lets each workflow have its own
// period: the sweep walks each workflow's entries oldest first and stops at
// the first one too young, so its cost follows what it removes plus the
// number of workflows, not the size of the history.
//
// The index is created by the first retention sweep (BuildEndedIndex), not
// by Open: a store that never uses retention never pays for it. While the
// bucket is missing, status changes do not write it; the build then scans
// every record, in chunks of endedBuildChunk per commit so that it never
// holds the writer for long. Once the bucket exists every status change
// keeps it up to date, so records scanned by an earlier chunk and changed
// afterwards are right too. The build's completion is recorded in
// ended_meta, so it runs once per store (again only if a crash cut it
// short: the chunks are idempotent).

var (
	bktEnded     = []byte("ended")      // lp(workflow) asc(ended) id -> empty
	bktEndedMeta = []byte("ended_meta") // "built" -> "1" once the ended index is complete
)

var keyEndedBuilt = []byte("built")

// endedBuildChunk is how many records one commit of the index build reads.
const endedBuildChunk = 1024

func endedKey(e *Execution) []byte {
	k := appendLP(make([]byte, 0, 2+len(e.Workflow)+timeLen+len(e.ID)), e.Workflow)
	k = appendTimeAsc(k, e.UpdatedAt)
	return append(k, e.ID...)
}

// splitEndedKey returns the workflow prefix (lp(workflow)), the workflow,
// the end time and the id of an ended key.
func splitEndedKey(k []byte) (prefix []byte, workflow string, ended time.Time, id string, ok bool) {
	n, w := binary.Uvarint(k)
	if w <= 0 || uint64(len(k)-w) < n {
		return nil, "", time.Time{}, "", false
	}
	end := w + int(n)
	rest := k[end:]
	if len(rest) <= timeLen {
		return nil, "", time.Time{}, "", false
	}
	sec := int64(binary.BigEndian.Uint64(rest) ^ (1 << 63))
	nsec := int64(binary.BigEndian.Uint32(rest[8:]))
	return k[:end], string(k[w:end]), time.Unix(sec, nsec), string(rest[timeLen:]), true
}

// putEnded adds e to the ended index if e has ended and the index exists.
// putIndexes calls it, so creates and imports of ended executions are
// indexed.
func putEnded(tx *bolt.Tx, e *Execution) error {
	b := tx.Bucket(bktEnded)
	if b == nil || !e.Status.Terminal() {
		return nil
	}
	return b.Put(endedKey(e), []byte{})
}

// moveEnded keeps the ended index in step with a status change from old to
// rec (applyStatus calls it).
func moveEnded(tx *bolt.Tx, old, rec *Execution) error {
	b := tx.Bucket(bktEnded)
	if b == nil {
		return nil
	}
	if old.Status.Terminal() {
		if err := b.Delete(endedKey(old)); err != nil {
			return err
		}
	}
	if rec.Status.Terminal() {
		return b.Put(endedKey(rec), []byte{})
	}
	return nil
}

// EndedIndexBuilt reports whether the ended index is complete.
func (s *Store) EndedIndexBuilt(ctx context.Context) (bool, error) {
	var built bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if m := tx.Bucket(bktEndedMeta); m != nil {
			built = m.Get(keyEndedBuilt) != nil
		}
		return nil
	})
	return built, err
}

// BuildEndedIndex creates the ended index of a store that has none (made
// before retention existed, or never swept), a chunk of records per
// commit. It does nothing once the index is complete. Safe to run
// concurrently with everything, itself included.
func (s *Store) BuildEndedIndex(ctx context.Context) error {
	built, err := s.EndedIndexBuilt(ctx)
	if err != nil || built {
		return err
	}
	var after []byte
	for {
		o := &buildEndedOp{after: after}
		if err := s.do(ctx, o); err != nil {
			return fmt.Errorf("persistence: build ended index: %w", err)
		}
		if o.next == nil {
			return nil
		}
		after = o.next
	}
}

// buildEndedOp indexes the ended executions among the endedBuildChunk
// records after after (nil: from the first), and records the index as
// complete when it reaches the end.
type buildEndedOp struct {
	after []byte
	next  []byte // last id read, nil when the scan is complete
}

func (o *buildEndedOp) check(*bolt.Tx) error { return nil }

func (o *buildEndedOp) put(tx *bolt.Tx) error {
	o.next = nil // put may run twice (batch, then alone): start from o.after
	b, err := tx.CreateBucketIfNotExists(bktEnded)
	if err != nil {
		return err
	}
	c := tx.Bucket(bktExecutions).Cursor()
	var k, v []byte
	if o.after == nil {
		k, v = c.First()
	} else if k, v = c.Seek(o.after); bytes.Equal(k, o.after) {
		k, v = c.Next()
	}
	var last []byte
	for n := 0; k != nil; k, v = c.Next() {
		if n == endedBuildChunk {
			o.next = bytes.Clone(last)
			return nil
		}
		n++
		last = append(last[:0], k...)
		var e Execution
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("persistence: decode execution %s: %w", k, err)
		}
		if e.Status.Terminal() {
			if err := b.Put(endedKey(&e), []byte{}); err != nil {
				return err
			}
		}
	}
	m, err := tx.CreateBucketIfNotExists(bktEndedMeta)
	if err != nil {
		return err
	}
	return m.Put(keyEndedBuilt, []byte("1"))
}

// RetentionFunc says how long ended executions of a workflow are kept;
// zero or negative keeps them for ever.
type RetentionFunc func(workflow string) time.Duration

// DeleteExpired removes, in one commit, up to limit executions that ended
// longer ago than their workflow's retention at now. more reports that
// there may be more to remove (the batch was full): call it again, after
// letting other writes through. The ended index is built first if needed.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, retention RetentionFunc, limit int) (deleted int, more bool, err error) {
	if limit <= 0 {
		limit = 256
	}
	if err := s.BuildEndedIndex(ctx); err != nil {
		return 0, false, err
	}
	keys, err := s.expired(ctx, now, retention, limit)
	if err != nil || len(keys) == 0 {
		return 0, false, err
	}
	o := &expireOp{keys: keys}
	if err := s.do(ctx, o); err != nil {
		return 0, false, err
	}
	if s.opts.OnDeleted != nil && len(o.recs) > 0 {
		s.opts.OnDeleted(o.recs)
	}
	return o.deleted, len(keys) == limit, nil
}

// expired reads up to limit ended keys whose end is older than their
// workflow's retention, oldest first within a workflow.
func (s *Store) expired(ctx context.Context, now time.Time, retention RetentionFunc, limit int) ([][]byte, error) {
	var out [][]byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		b := tx.Bucket(bktEnded)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, _ := c.First()
		for k != nil && len(out) < limit {
			prefix, workflow, _, _, ok := splitEndedKey(k)
			if !ok {
				return fmt.Errorf("persistence: malformed ended key %x", k)
			}
			keep := retention(workflow)
			if keep > 0 {
				cutoff := appendTimeAsc(bytes.Clone(prefix), now.Add(-keep))
				for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
					if bytes.Compare(k, cutoff) >= 0 {
						break // the rest of this workflow ended too recently
					}
					out = append(out, bytes.Clone(k))
				}
				if len(out) >= limit {
					return nil
				}
			}
			// Next workflow.
			next := prefixEnd(prefix)
			if next == nil {
				return nil
			}
			k, _ = c.Seek(next)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// prefixEnd is the smallest key greater than every key starting with p, nil
// if there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// expireOp removes the executions named by ended keys. check decides
// again, on the transaction as it stands, what each key still means: the
// key may be gone (the execution was deleted meanwhile) or stale (then it
// is dropped and the execution kept).
type expireOp struct {
	keys    [][]byte
	recs    []Execution // to remove, found by check
	stale   [][]byte    // keys that name nothing to remove
	deleted int
}

func (o *expireOp) check(tx *bolt.Tx) error {
	o.recs, o.stale, o.deleted = o.recs[:0], o.stale[:0], 0
	b := tx.Bucket(bktEnded)
	if b == nil {
		return nil
	}
	for _, k := range o.keys {
		if b.Get(k) == nil {
			continue
		}
		_, _, _, id, ok := splitEndedKey(k)
		if !ok {
			o.stale = append(o.stale, k)
			continue
		}
		raw := tx.Bucket(bktExecutions).Get([]byte(id))
		if raw == nil {
			o.stale = append(o.stale, k)
			continue
		}
		var e Execution
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("persistence: decode execution %s: %w", id, err)
		}
		if !e.Status.Terminal() || !bytes.Equal(endedKey(&e), k) {
			o.stale = append(o.stale, k)
			continue
		}
		o.recs = append(o.recs, e)
	}
	return nil
}

func (o *expireOp) put(tx *bolt.Tx) error {
	for i := range o.recs {
		if err := removeExecution(tx, &o.recs[i]); err != nil {
			return err
		}
	}
	if b := tx.Bucket(bktEnded); b != nil {
		for _, k := range o.stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	o.deleted = len(o.recs)
	return nil
}
