package persistence

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// Page is the page f asks for: at most limit items (Limit, or 100 when
// unset, at most 1,000), after the position the cursor names (nil: from
// the newest). Every store reads filters through it, so a cursor means the
// same on each. A filter without a workspace, or a cursor that is not a
// position, is ErrInvalid.
func (f ListFilter) Page() (limit int, after []byte, err error) {
	if f.Workspace == "" {
		return 0, nil, fmt.Errorf("%w: list needs a workspace", ErrInvalid)
	}
	limit = f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	if f.Cursor != "" {
		after, err = base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || len(after) <= timeLen {
			return 0, nil, fmt.Errorf("%w: malformed cursor", ErrInvalid)
		}
	}
	return limit, after, nil
}

// MatchMetadata reports whether metadata (a JSON object) has every key of
// f.Metadata with that value: a string equal to it, or another JSON value
// spelt so (from_step=3, ok=true, as compact JSON). Metadata that is not
// an object matches only an empty filter.
func (f ListFilter) MatchMetadata(metadata []byte) bool {
	if len(f.Metadata) == 0 {
		return true
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(metadata, &m); err != nil {
		return false
	}
	for k, want := range f.Metadata {
		raw, ok := m[k]
		if !ok || !metadataValueIs(raw, want) {
			return false
		}
	}
	return true
}

func metadataValueIs(raw json.RawMessage, want string) bool {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str == want
	}
	var compact bytes.Buffer
	return json.Compact(&compact, raw) == nil && compact.String() == want
}

// List returns one page of f.Workspace's executions, newest first (CreatedAt
// descending, then id ascending), optionally only those with f.Status,
// f.Workflow, f.IdempotencyKey, f.Metadata and/or created in
// [f.CreatedAfter, f.CreatedBefore). nextCursor, passed back as f.Cursor, continues after the
// last item; it is "" when nothing more matches.
//
// With a status filter List walks the status index, so a rare status is as
// cheap to list as a common one. The time range bounds the walk (the index
// is in time order), so an old hour costs a seek, not a scan of what came
// after it. The workflow and metadata filters are applied to the records
// read, so a rare workflow or metadata value costs a scan of the workspace
// (or of the status) up to the page size of matches. An idempotency key is looked up in the idempotency
// bucket, one seek per workflow of the workspace, never by reading
// executions.
//
// A cursor is a position in time order, not a snapshot: executions created
// after the first page do not appear on later ones, and with a status filter
// an execution whose status changes between pages may be skipped or repeated.
func (s *Store) List(ctx context.Context, f ListFilter) (items []Execution, nextCursor string, err error) {
	limit, after, err := f.Page()
	if err != nil {
		return nil, "", err
	}
	q := listQuery{f: f, limit: limit, after: after}
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if f.IdempotencyKey != "" {
			return q.byIdempotencyKey(ctx, tx)
		}
		return q.walkIndex(ctx, tx)
	})
	if err != nil {
		return nil, "", err
	}
	return q.items, q.next, nil
}

// listQuery is one List call: its filter and the page it collects.
type listQuery struct {
	f     ListFilter
	limit int
	after []byte // the cursor's position; nil for the first page

	items []Execution
	next  string
	last  []byte // position of the last item taken
}

// keep reports whether e passes the filters not already applied by the
// index being walked.
func (q *listQuery) keep(e Execution) bool {
	return (q.f.Status == "" || e.Status == q.f.Status) && (q.f.Workflow == "" || e.Workflow == q.f.Workflow) &&
		q.f.MatchMetadata(e.Metadata)
}

// take adds e at pos to the page; it reports false, and sets the next
// cursor, when the page was already full (so one more match exists).
func (q *listQuery) take(e Execution, pos []byte) bool {
	if len(q.items) == q.limit {
		q.next = base64.RawURLEncoding.EncodeToString(q.last)
		return false
	}
	q.items = append(q.items, e)
	q.last = bytes.Clone(pos) // pos may die with the transaction
	return true
}

// start is where the walk of an index under prefix begins: after the
// cursor, and no newer than CreatedBefore. It reports whether a key equal
// to it must be skipped (it is the cursor's last item).
func (q *listQuery) start(prefix []byte) (from []byte, skipEqual bool) {
	from = prefix
	if !q.f.CreatedBefore.IsZero() {
		// created < before is created <= before-1ns: desc order puts that
		// instant's keys at or after this one.
		from = appendTimeDesc(bytes.Clone(prefix), q.f.CreatedBefore.Add(-time.Nanosecond))
	}
	if q.after != nil {
		if cur := append(bytes.Clone(prefix), q.after...); bytes.Compare(cur, from) >= 0 {
			return cur, true
		}
	}
	return from, false
}

// tooOld reports whether the position is older than CreatedAfter; positions
// only get older from there on.
func (q *listQuery) tooOld(pos []byte) bool {
	if q.f.CreatedAfter.IsZero() {
		return false
	}
	return bytes.Compare(pos[:timeLen], appendTimeDesc(nil, q.f.CreatedAfter)) > 0
}

// walkIndex pages through the workspace index, or the status index when
// a status is asked for.
func (q *listQuery) walkIndex(ctx context.Context, tx *bolt.Tx) error {
	q.items = []Execution{} // not nil: it encodes as [], not null
	bucket, prefix := bktByWorkspace, workspacePrefix(q.f.Workspace)
	if q.f.Status != "" {
		bucket, prefix = bktByStatus, statusPrefix(q.f.Workspace, q.f.Status)
	}
	c := tx.Bucket(bucket).Cursor()
	from, skipEqual := q.start(prefix)
	k, _ := c.Seek(from)
	if skipEqual && bytes.Equal(k, from) {
		k, _ = c.Next()
	}
	for scanned := 0; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if scanned++; scanned%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		pos := k[len(prefix):]
		if len(pos) <= timeLen {
			return fmt.Errorf("persistence: malformed index key %x", k)
		}
		if q.tooOld(pos) {
			return nil
		}
		e, err := loadExecution(tx, string(pos[timeLen:]))
		if err != nil {
			return fmt.Errorf("persistence: listing index: %w", err)
		}
		if q.keep(e) && !q.take(e, pos) {
			return nil
		}
	}
	return nil
}

// byIdempotencyKey finds the executions started with the key: one per
// workflow at most (a key is scoped to its workspace and workflow), so the
// page is built in memory from the few found, in List's order.
func (q *listQuery) byIdempotencyKey(ctx context.Context, tx *bolt.Tx) error {
	q.items = []Execution{}
	ids, err := idsByIdempotencyKey(ctx, tx, q.f.Workspace, q.f.Workflow, q.f.IdempotencyKey)
	if err != nil {
		return err
	}
	type found struct {
		e   Execution
		pos []byte
	}
	var hits []found
	for _, id := range ids {
		e, err := loadExecution(tx, id)
		if err != nil {
			return fmt.Errorf("persistence: idempotency index: %w", err)
		}
		hits = append(hits, found{e, position(&e)})
	}
	slices.SortFunc(hits, func(a, b found) int { return bytes.Compare(a.pos, b.pos) })
	from, skipEqual := q.start(nil)
	for _, h := range hits {
		if c := bytes.Compare(h.pos, from); c < 0 || (c == 0 && skipEqual) {
			continue
		}
		if q.tooOld(h.pos) {
			break
		}
		if q.keep(h.e) && !q.take(h.e, h.pos) {
			break
		}
	}
	return nil
}

// idsByIdempotencyKey returns the ids stored under key in the idempotency
// bucket for workspace ws: the one of workflow, or with workflow "" those
// of every workflow. Keys are lp(ws) lp(workflow) lp(key), so the lookup
// without a workflow seeks each workflow's entry and then jumps past that
// workflow's keys: one seek per workflow, whatever the number of keys.
func idsByIdempotencyKey(ctx context.Context, tx *bolt.Tx, ws, workflow, key string) ([]string, error) {
	b := tx.Bucket(bktIdempotency)
	if workflow != "" {
		if v := b.Get(idempotencyKey(ws, workflow, key)); v != nil {
			return []string{string(v)}, nil
		}
		return nil, nil
	}
	prefix := workspacePrefix(ws)
	c := b.Cursor()
	var ids []string
	k, _ := c.Seek(prefix)
	for k != nil && bytes.HasPrefix(k, prefix) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := lpLen(k[len(prefix):])
		if n == 0 {
			return nil, fmt.Errorf("persistence: malformed idempotency key %x", k)
		}
		wfPrefix := bytes.Clone(k[:len(prefix)+n])
		want := appendLP(bytes.Clone(wfPrefix), key)
		if got, v := c.Seek(want); bytes.Equal(got, want) {
			ids = append(ids, string(v))
		}
		end := prefixEnd(wfPrefix)
		if end == nil {
			break
		}
		k, _ = c.Seek(end)
	}
	return ids, nil
}

// lpLen is the length of the length-prefixed string at the start of b
// (prefix included), or 0 when b does not start with a whole one.
func lpLen(b []byte) int {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return 0
	}
	return w + int(n)
}
