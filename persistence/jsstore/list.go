package jsstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// Listing reads whole key ranges of two buckets, kept beside the records:
//
//	list        <workspace>.<execution> -> listEntry   (every execution)
//	unfinished  <execution> -> unfinishedEntry         (status not terminal)
//
// A KV bucket has no key order and no paging, so List reads every entry
// of the workspace and sorts them in memory: its cost follows the size of
// the workspace, not the page (see the package doc for how far that
// goes). The entries are written after the record and the first event, and
// rewritten with each status, without compare-and-set: they may lag the
// record, so List checks each item of its page against the record, and
// Unfinished drops the entries of records that ended or are gone.

// loadParallel bounds the record reads one List or Unfinished has in
// flight.
const loadParallel = 16

type listEntry struct {
	ID       string      `json:"id"`
	Workflow string      `json:"workflow"`
	Status   weft.Status `json:"status"`
	Key      string      `json:"key,omitempty"` // the idempotency key
	Created  time.Time   `json:"created"`
}

type unfinishedEntry struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Waiting bool      `json:"waiting,omitempty"`
	WakeAt  time.Time `json:"wake_at,omitzero"`
}

func (s *Store) putList(ctx context.Context, e persistence.Execution) error {
	raw, err := json.Marshal(listEntry{ID: e.ID, Workflow: e.Workflow, Status: e.Status, Key: e.IdempotencyKey, Created: e.CreatedAt})
	if err != nil {
		return fmt.Errorf("jsstore: encode list entry of %s: %w", e.ID, err)
	}
	if _, err := s.list.Put(ctx, listKey(e.Workspace, e.ID), raw); err != nil {
		return fmt.Errorf("jsstore: list entry of %s: %w", e.ID, err)
	}
	return nil
}

// putUnfinished keeps e's unfinished entry in step with its status: there
// while it has not ended (with when a wait ends), gone once it has.
func (s *Store) putUnfinished(ctx context.Context, e persistence.Execution, wakeAt time.Time) error {
	key := unfinishedKey(e.ID)
	if e.Status.Terminal() {
		if err := s.unfinishedS.Purge(ctx, jetstream.WithPurgeSubject(kvSubject(s.names.unfinished, key))); err != nil {
			return fmt.Errorf("jsstore: unfinished entry of %s: %w", e.ID, err)
		}
		return nil
	}
	entry := unfinishedEntry{ID: e.ID, Created: e.CreatedAt, Waiting: e.Status == weft.StatusWaiting}
	if entry.Waiting {
		entry.WakeAt = wakeAt
	}
	raw, err := json.Marshal(entry)
	if err != nil {
		return fmt.Errorf("jsstore: encode unfinished entry of %s: %w", e.ID, err)
	}
	if _, err := s.unfinished.Put(ctx, key, raw); err != nil {
		return fmt.Errorf("jsstore: unfinished entry of %s: %w", e.ID, err)
	}
	return nil
}

// List returns one page of f.Workspace's executions, newest first
// (CreatedAt descending, then id), with the filters and cursor of
// persistence.Store.List.
func (s *Store) List(ctx context.Context, f persistence.ListFilter) (items []persistence.Execution, nextCursor string, err error) {
	if err := s.open(); err != nil {
		return nil, "", err
	}
	limit, after, err := f.Page()
	if err != nil {
		return nil, "", err
	}
	entries, err := scan[listEntry](ctx, s, s.list, listFilter(f.Workspace))
	if err != nil {
		return nil, "", err
	}
	var hits []hit
	for _, e := range entries {
		if !listMatch(f, e) {
			continue
		}
		pos := persistence.ListPosition(e.Created, e.ID)
		if after != nil && bytes.Compare(pos, after) <= 0 {
			continue
		}
		hits = append(hits, hit{e.ID, pos})
	}
	slices.SortFunc(hits, func(a, b hit) int { return bytes.Compare(a.pos, b.pos) })
	if len(f.Metadata) > 0 {
		return s.listByMetadata(ctx, f, limit, hits)
	}
	if len(hits) > limit {
		nextCursor = base64.RawURLEncoding.EncodeToString(hits[limit-1].pos)
		hits = hits[:limit]
	}
	recs, err := s.loadAll(ctx, hitIDs(hits))
	if err != nil {
		return nil, "", err
	}
	items = []persistence.Execution{}
	for _, e := range recs {
		// The entry may lag its record: the record decides.
		if e.ID != "" && (f.Status == "" || e.Status == f.Status) {
			items = append(items, e)
		}
	}
	return items, nextCursor, nil
}

// listByMetadata makes a page of the hits whose records match f: list
// entries hold no metadata, so records are read a page's worth at a time
// until the page is full. The cursor is set when hits remain after the
// page (the next page may come back empty).
func (s *Store) listByMetadata(ctx context.Context, f persistence.ListFilter, limit int, hits []hit) ([]persistence.Execution, string, error) {
	items := []persistence.Execution{}
	for start := 0; start < len(hits); start += limit {
		chunk := hits[start:min(start+limit, len(hits))]
		recs, err := s.loadAll(ctx, hitIDs(chunk))
		if err != nil {
			return nil, "", err
		}
		for i, e := range recs {
			if e.ID == "" || (f.Status != "" && e.Status != f.Status) || !f.MatchMetadata(e.Metadata) {
				continue
			}
			items = append(items, e)
			if len(items) == limit {
				if start+i+1 < len(hits) {
					return items, base64.RawURLEncoding.EncodeToString(chunk[i].pos), nil
				}
				return items, "", nil
			}
		}
	}
	return items, "", nil
}

// hit is a list entry that passed the filters, at its list position.
type hit struct {
	id  string
	pos []byte
}

func hitIDs(hits []hit) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	return ids
}

func listMatch(f persistence.ListFilter, e listEntry) bool {
	switch {
	case f.Status != "" && e.Status != f.Status,
		f.Workflow != "" && e.Workflow != f.Workflow,
		f.IdempotencyKey != "" && e.Key != f.IdempotencyKey,
		!f.CreatedAfter.IsZero() && e.Created.Before(f.CreatedAfter),
		!f.CreatedBefore.IsZero() && !e.Created.Before(f.CreatedBefore):
		return false
	}
	return true
}

// Unfinished returns every execution whose status is not terminal, oldest
// first (CreatedAt, then id). Entries whose record ended or is gone (their
// writer died before removing them) are dropped from the bucket.
func (s *Store) Unfinished(ctx context.Context) ([]persistence.Execution, error) {
	out, _, err := s.UnfinishedWhere(ctx, nil)
	return out, err
}

// UnfinishedWhere is Unfinished for the executions whose id keep accepts
// (nil: all): the others are not loaded. A node taking over partitions
// loads only theirs. waiting is WaitingIndex for those executions, read in
// the same pass over the bucket.
func (s *Store) UnfinishedWhere(ctx context.Context, keep func(id string) bool) (_ []persistence.Execution, waiting map[string]time.Time, _ error) {
	if err := s.open(); err != nil {
		return nil, nil, err
	}
	entries, err := scan[unfinishedEntry](ctx, s, s.unfinished, ">")
	if err != nil {
		return nil, nil, err
	}
	if keep != nil {
		entries = slices.DeleteFunc(entries, func(e unfinishedEntry) bool { return !keep(e.ID) })
	}
	slices.SortFunc(entries, func(a, b unfinishedEntry) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	recs, err := s.loadAll(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	var out []persistence.Execution
	for i, e := range recs {
		if e.ID == "" || e.Status.Terminal() {
			s.purge(ctx, s.unfinishedS, kvSubject(s.names.unfinished, unfinishedKey(ids[i])))
			continue
		}
		out = append(out, e)
	}
	return out, waitingOf(entries), nil
}

// WaitingIndex returns, for every execution whose status is waiting, when
// its wait ends (the zero time: no deadline). It reads the unfinished
// bucket only: about 100 bytes per unfinished execution.
func (s *Store) WaitingIndex(ctx context.Context) (map[string]time.Time, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	entries, err := scan[unfinishedEntry](ctx, s, s.unfinished, ">")
	if err != nil {
		return nil, err
	}
	return waitingOf(entries), nil
}

// waitingOf is the waiting index of entries: when each waiting one's wait
// ends.
func waitingOf(entries []unfinishedEntry) map[string]time.Time {
	out := map[string]time.Time{}
	for _, e := range entries {
		if e.Waiting {
			out[e.ID] = e.WakeAt.UTC()
		}
	}
	return out
}

// loadAll loads the executions of ids, a few at a time, in ids' order. An
// execution that is gone comes back as the zero Execution.
func (s *Store) loadAll(ctx context.Context, ids []string) ([]persistence.Execution, error) {
	out := make([]persistence.Execution, len(ids))
	fns := make([]func() error, len(ids))
	for i, id := range ids {
		fns[i] = func() error {
			e, err := s.loadExecution(ctx, id)
			if errors.Is(err, persistence.ErrNotFound) {
				return nil
			}
			out[i] = e
			return err
		}
	}
	if err := bounded(loadParallel, fns); err != nil {
		return nil, err
	}
	return out, nil
}
