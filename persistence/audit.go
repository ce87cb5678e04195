package persistence

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The audit trail: one record per mutation (PROTOCOL.md section 8), in
//
//	audit        lp(workspace) asc(time) seq (BE uint64) -> AuditRecord JSON
//
// A workspace's records are one prefix, oldest first; seq (a per-process
// counter) keeps two records of one nanosecond apart. The key, hex-encoded,
// is the listing cursor. Records go through the writer like every other
// write, so they are as durable as the events and share their fsyncs:
// AppendAudit queues without waiting (the caller of a mutation never waits
// for its audit record's fsync). The bucket is created by the first record,
// so a store that never audits never has it.

var bktAudit = []byte("audit")

// AuditRecord is one audited action, as stored and as listed.
type AuditRecord struct {
	Time       time.Time `json:"time"`
	Identity   string    `json:"identity"`
	Workspace  string    `json:"workspace"`
	Transport  string    `json:"transport"` // ws, http, schedule, cli
	Action     string    `json:"action"`    // the service name, e.g. execution.cancel
	Target     string    `json:"target"`
	Outcome    string    `json:"outcome"` // ok or an error code
	RemoteAddr string    `json:"remote_addr"`
}

// AuditFilter selects records of one workspace for ListAudit.
type AuditFilter struct {
	Workspace string
	Action    string    // "": any
	Identity  string    // "": any
	Since     time.Time // zero: from the first
	Until     time.Time // zero: to the last (exclusive)
	After     string    // a cursor from an earlier page
	Limit     int       // <= 0: 100; at most 1000
}

// AuditPage is one page of ListAudit; NextCursor is "" on the last page.
type AuditPage struct {
	Items      []AuditRecord `json:"items"`
	NextCursor string        `json:"next_cursor"`
}

var auditSeq atomic.Uint64

type auditOp struct {
	key, val []byte
}

func (o *auditOp) check(*bolt.Tx) error { return nil }

func (o *auditOp) put(tx *bolt.Tx) error {
	b, err := tx.CreateBucketIfNotExists(bktAudit)
	if err != nil {
		return err
	}
	return b.Put(o.key, o.val)
}

func newAuditOp(r AuditRecord) (*auditOp, error) {
	if r.Workspace == "" {
		return nil, fmt.Errorf("%w: audit record without a workspace", ErrInvalid)
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	val, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("persistence: encode audit record: %w", err)
	}
	key := appendLP(make([]byte, 0, 2+len(r.Workspace)+timeLen+8), r.Workspace)
	key = appendTimeAsc(key, r.Time)
	key = binary.BigEndian.AppendUint64(key, auditSeq.Add(1))
	if len(key) > bolt.MaxKeySize {
		return nil, fmt.Errorf("%w: audit workspace too long", ErrInvalid)
	}
	return &auditOp{key: key, val: val}, nil
}

// AppendAudit queues r and returns without waiting for its commit; done,
// if not nil, is called with the result as for CommitAsync. It blocks only
// while the write queue is full.
func (s *Store) AppendAudit(r AuditRecord, done func(error)) {
	o, err := newAuditOp(r)
	if err != nil {
		if done != nil {
			done(err)
		}
		return
	}
	if err := s.enqueue(context.Background(), &op{a: o, done: done}); err != nil && done != nil {
		done(err)
	}
}

// AppendAuditWait stores r and waits for the commit.
func (s *Store) AppendAuditWait(ctx context.Context, r AuditRecord) error {
	o, err := newAuditOp(r)
	if err != nil {
		return err
	}
	return s.do(ctx, o)
}

// ListAudit returns the records of f.Workspace that match f, oldest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) (AuditPage, error) {
	page := AuditPage{Items: []AuditRecord{}}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	prefix := appendLP(nil, f.Workspace)
	start := prefix
	if !f.Since.IsZero() {
		start = appendTimeAsc(append([]byte(nil), prefix...), f.Since)
	}
	var after []byte
	if f.After != "" {
		var err error
		if after, err = hex.DecodeString(f.After); err != nil || !bytes.HasPrefix(after, prefix) {
			return page, fmt.Errorf("%w: bad audit cursor", ErrInvalid)
		}
		if bytes.Compare(after, start) >= 0 {
			start = after
		}
	}
	var until []byte
	if !f.Until.IsZero() {
		until = appendTimeAsc(append([]byte(nil), prefix...), f.Until)
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var last []byte
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if after != nil && bytes.Equal(k, after) {
				continue
			}
			if until != nil && bytes.Compare(k, until) >= 0 {
				break
			}
			if len(page.Items) == f.Limit {
				page.NextCursor = hex.EncodeToString(last)
				return nil
			}
			var r AuditRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("persistence: decode audit record %x: %w", k, err)
			}
			last = append(last[:0], k...)
			if (f.Action != "" && r.Action != f.Action) || (f.Identity != "" && r.Identity != f.Identity) {
				continue
			}
			page.Items = append(page.Items, r)
		}
		return nil
	})
	return page, err
}

// DeleteAuditBefore removes up to batch audit records (of every
// workspace) older than cutoff, in one commit. more reports that some may
// be left.
func (s *Store) DeleteAuditBefore(ctx context.Context, cutoff time.Time, batch int) (n int, more bool, err error) {
	if batch <= 0 {
		batch = 256
	}
	o := &auditSweepOp{cutoff: cutoff, batch: batch}
	if err := s.do(ctx, o); err != nil {
		return 0, false, err
	}
	return o.n, o.more, nil
}

type auditSweepOp struct {
	cutoff time.Time
	batch  int
	n      int
	more   bool
}

func (o *auditSweepOp) check(*bolt.Tx) error { o.n, o.more = 0, false; return nil }

// put walks the workspaces' prefixes: in each, the records older than the
// cutoff come first, so it deletes until the first younger one and then
// jumps to the next workspace.
func (o *auditSweepOp) put(tx *bolt.Tx) error {
	b := tx.Bucket(bktAudit)
	if b == nil {
		return nil
	}
	var dead [][]byte
	c := b.Cursor()
	k, _ := c.First()
	for k != nil {
		n, w := binary.Uvarint(k)
		if w <= 0 || len(k) < w+int(n) {
			k, _ = c.Next()
			continue
		}
		prefix := append([]byte(nil), k[:w+int(n)]...)
		limit := appendTimeAsc(append([]byte(nil), prefix...), o.cutoff)
		for ; k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, limit) < 0; k, _ = c.Next() {
			if len(dead) == o.batch {
				o.more = true
				break
			}
			dead = append(dead, append([]byte(nil), k...))
		}
		if o.more {
			break
		}
		// Next workspace: the first key past every key of this prefix.
		k, _ = c.Seek(append(prefix, bytes.Repeat([]byte{0xff}, timeLen+9)...))
		for k != nil && bytes.HasPrefix(k, prefix) {
			k, _ = c.Next()
		}
	}
	for _, d := range dead {
		if err := b.Delete(d); err != nil {
			return err
		}
	}
	o.n = len(dead)
	return nil
}
