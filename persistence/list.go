package persistence

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// List returns one page of f.Workspace's executions, newest first (CreatedAt
// descending, then id ascending), optionally only those with f.Status and/or
// f.Workflow. nextCursor, passed back as f.Cursor, continues after the last
// item; it is "" when nothing more matches.
//
// With a status filter List walks the status index, so a rare status is as
// cheap to list as a common one. The workflow filter is applied to the
// records read, so a rare workflow costs a scan of the workspace (or of the
// status) up to the page size of matches.
//
// A cursor is a position in time order, not a snapshot: executions created
// after the first page do not appear on later ones, and with a status filter
// an execution whose status changes between pages may be skipped or repeated.
func (s *Store) List(ctx context.Context, f ListFilter) (items []Execution, nextCursor string, err error) {
	if f.Workspace == "" {
		return nil, "", fmt.Errorf("%w: list needs a workspace", ErrInvalid)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	var after []byte
	if f.Cursor != "" {
		after, err = base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || len(after) <= timeLen {
			return nil, "", fmt.Errorf("%w: malformed cursor", ErrInvalid)
		}
	}
	bucket, prefix := bktByWorkspace, workspacePrefix(f.Workspace)
	if f.Status != "" {
		bucket, prefix = bktByStatus, statusPrefix(f.Workspace, f.Status)
	}

	err = s.view(ctx, func(tx *bolt.Tx) error {
		items = []Execution{} // not nil: it encodes as [], not null
		nextCursor = ""
		c := tx.Bucket(bucket).Cursor()
		var k []byte
		if after == nil {
			k, _ = c.Seek(prefix)
		} else {
			from := append(bytes.Clone(prefix), after...)
			if k, _ = c.Seek(from); bytes.Equal(k, from) {
				k, _ = c.Next()
			}
		}
		var last []byte // position of the last item taken
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
			e, err := loadExecution(tx, string(pos[timeLen:]))
			if err != nil {
				return fmt.Errorf("persistence: listing index: %w", err)
			}
			if (f.Status != "" && e.Status != f.Status) || (f.Workflow != "" && e.Workflow != f.Workflow) {
				continue
			}
			if len(items) == limit {
				// One more match exists, so there is a next page; it
				// starts after the last item returned.
				nextCursor = base64.RawURLEncoding.EncodeToString(last)
				break
			}
			items = append(items, e)
			last = bytes.Clone(pos) // pos dies with the transaction
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return items, nextCursor, nil
}
