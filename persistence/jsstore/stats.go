package jsstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/weft-run/weft/persistence"
)

// Workflow stats are the bbolt store's rollup (persistence.StatsRollup:
// counts by terminal status, total duration, a log-scale histogram), kept
// in the bucket <prefix>_STATS under
//
//	<workspace>.<workflow>.m.<unix start>   the executions that ended in that minute
//	<workspace>.<workflow>.h.<unix start>   ... in that hour
//
// An end is counted by recordEnd, once: it first stores the execution's
// ended entry (retention.go) only if there is none, and only the store
// that did counts it, each value by compare-and-set. A node that dies
// between the entry and the counts loses that one end from the stats
// (counted at most once, never twice). The bucket's MaxAge
// (persistence.StatsKeep) drops a value eight days after its last count,
// as bbolt prunes them.
//
// A query reads its hours through one watcher on the workflow's hour keys
// (at most eight days of them: also whether the workflow has any) and its
// ragged-edge minutes by key, in parallel: at most 118 gets.

const statsKeep = persistence.StatsKeep

func statsKey(ws, workflow string, hour bool, start int64) string {
	tier := "m"
	if hour {
		tier = "h"
	}
	return statsPrefix(ws, workflow) + tier + "." + strconv.FormatInt(start, 10)
}

func statsPrefix(ws, workflow string) string { return token(ws) + "." + token(workflow) + "." }

// recordEnd counts e, which has just ended, in its workflow's stats and
// adds it to the ended index. It does both once per execution however
// often it is called (by the writer, a fenced writer, the next owner
// re-applying the write): the jsstore write path calls it where a
// terminal status is applied.
func (s *Store) recordEnd(ctx context.Context, e persistence.Execution) error {
	if !e.Status.Terminal() {
		return nil
	}
	first, err := s.putEnded(ctx, e)
	if err != nil || !first {
		return err
	}
	end := e.UpdatedAt.UTC()
	return parallel(
		func() error {
			return s.countEnd(ctx, e, statsKey(e.Workspace, e.Workflow, false, end.Truncate(time.Minute).Unix()))
		},
		func() error {
			return s.countEnd(ctx, e, statsKey(e.Workspace, e.Workflow, true, end.Truncate(time.Hour).Unix()))
		},
	)
}

// countEnd adds e to the rollup value at key. A damaged value is started
// over rather than failing: an execution must be able to end whatever the
// stats hold.
func (s *Store) countEnd(ctx context.Context, e persistence.Execution, key string) error {
	kv := s.rest.stats
	for range scheduleCASAttempts {
		var r persistence.StatsRollup
		var rev uint64
		entry, err := kv.Get(ctx, key)
		switch {
		case err == nil:
			r, _ = persistence.DecodeStatsRollup(entry.Value())
			rev = entry.Revision()
		case !notFound(err):
			return fmt.Errorf("jsstore: stats of %s: %w", e.ID, err)
		}
		r.Add(e.Status, e.UpdatedAt.Sub(e.CreatedAt))
		if rev == 0 {
			_, err = kv.Create(ctx, key, r.Encode())
		} else {
			_, err = kv.Update(ctx, key, r.Encode(), rev)
		}
		if err == nil {
			return nil
		}
		if !casLost(err) {
			return fmt.Errorf("jsstore: stats of %s: %w", e.ID, err)
		}
	}
	return fmt.Errorf("jsstore: stats value %s keeps changing", key)
}

// WorkflowStats reads the stats of workflow in workspace for period,
// ending at now, as persistence.Store.WorkflowStats.
func (s *Store) WorkflowStats(ctx context.Context, workspace, workflow string, period persistence.Period, now time.Time) (persistence.WorkflowStats, error) {
	if err := s.open(); err != nil {
		return persistence.WorkflowStats{}, err
	}
	if workspace == "" || workflow == "" {
		return persistence.WorkflowStats{}, fmt.Errorf("%w: stats need a workspace and a workflow", persistence.ErrInvalid)
	}
	from, to, slots := persistence.StatsWindow(period, now)
	hours := map[string][]byte{}
	err := s.watchAll(ctx, s.rest.stats, statsPrefix(workspace, workflow)+"h.>", func(key string, value []byte, _ uint64) error {
		hours[key] = value
		return nil
	})
	if err != nil {
		return persistence.WorkflowStats{}, err
	}
	values, err := s.statsValues(ctx, workspace, workflow, slots, hours)
	if err != nil {
		return persistence.WorkflowStats{}, err
	}
	var sum persistence.StatsSum
	for key, v := range values {
		if err := sum.AddEncoded(v); err != nil {
			return persistence.WorkflowStats{}, fmt.Errorf("%w: stats value %s: %v", ErrCorrupt, key, err)
		}
	}
	return sum.Stats(workflow, period, from, to, len(hours) > 0), nil
}

// statsValues returns the values of slots: hours from those read, minutes
// by key, a few at a time.
func (s *Store) statsValues(ctx context.Context, ws, workflow string, slots []persistence.StatsSlot, hours map[string][]byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	var mu sync.Mutex
	var fns []func() error
	for _, sl := range slots {
		key := statsKey(ws, workflow, sl.Hour, sl.Start.Unix())
		if sl.Hour {
			if v, ok := hours[key]; ok {
				out[key] = v
			}
			continue
		}
		if len(hours) == 0 {
			continue // nothing ended within eight days
		}
		fns = append(fns, func() error {
			entry, err := s.rest.stats.Get(ctx, key)
			if notFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("jsstore: stats value %s: %w", key, err)
			}
			mu.Lock()
			out[key] = entry.Value()
			mu.Unlock()
			return nil
		})
	}
	return out, bounded(loadParallel, fns)
}

// bounded runs fns, at most n at once, and returns their errors joined.
func bounded(n int, fns []func() error) error {
	errs := make([]error, len(fns))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, fn := range fns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
