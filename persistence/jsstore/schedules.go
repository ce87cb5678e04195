package jsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/persistence"
)

// Schedules live in one bucket, <prefix>_SCHEDULES, keyed
// <workspace>.<schedule> (tokens as everywhere in jsstore): a workspace's
// schedules are one key filter, another workspace's id is not found.
//
// Every change is a compare-and-set on the key's revision, so schedulers
// on several nodes and service calls on any node never lose each other's
// writes. Firing once per due time cluster-wide rests on two things the
// store gives: the firing's execution is created under the idempotency key
// schedule:<id>:<unix due time> (one winner cluster-wide, create.go), and
// the schedule's progress (next_run_at, last_run_at, firings) moves by
// UpdateSchedule, whose fn sees the record as stored: a fn that checks
// next_run_at is still the due time it fired advances it once, whoever
// else tried.

// scheduleLimit is how many schedules a workspace may hold (the actors'
// maxSchedulesPerWorkspace, held here cluster-wide). A var for tests.
var scheduleLimit = 1000

// scheduleCASAttempts bounds UpdateSchedule's and DeleteSchedule's
// compare-and-set loops. Every lost round is another writer's success on
// the same schedule (a scheduler and service calls), so the loop always
// makes progress; casPause spreads the losers out so that, under load,
// one writer is not outrun round after round by the same others.
const scheduleCASAttempts = 50

// casPause waits before compare-and-set attempt n+1 (n from 0): a random
// pause of up to 1 ms doubled per lost round, capped at 50 ms, or until
// ctx ends.
func casPause(ctx context.Context, n int) error {
	ceiling := time.Millisecond << min(n, 6)
	t := time.NewTimer(min(rand.N(ceiling), 50*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func scheduleKey(ws, id string) string { return token(ws) + "." + token(id) }

// CreateSchedule stores a new schedule. An id already stored in the
// workspace is persistence.ErrExists; a workspace holding scheduleLimit
// schedules refuses more with persistence.ErrLimit.
//
// The limit holds cluster-wide: the schedule is created (absent-only),
// then the workspace's keys are read and a create whose revision ranks
// past the limit withdraws itself. Of creates racing for the last places
// the earliest stored keep them; a later one may be refused while an
// earlier one is still withdrawing (never the other way).
func (s *Store) CreateSchedule(ctx context.Context, sc persistence.Schedule) error {
	if err := s.open(); err != nil {
		return err
	}
	switch {
	case sc.ID == "" || sc.Workspace == "" || sc.Workflow == "":
		return fmt.Errorf("%w: schedule needs an id, a workspace and a workflow", persistence.ErrInvalid)
	case len(sc.ID) > maxIDLen || len(sc.Workspace) > maxIDLen:
		return fmt.Errorf("%w: schedule id %q is too long", persistence.ErrInvalid, sc.ID)
	}
	raw, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("jsstore: encode schedule %s: %w", sc.ID, err)
	}
	key := scheduleKey(sc.Workspace, sc.ID)
	rev, err := s.rest.schedules.Create(ctx, key, raw)
	if errors.Is(err, jetstream.ErrKeyExists) {
		// Ours, if an attempt that timed out did land; else a duplicate.
		rev, err = s.ownSchedule(ctx, key, sc.ID, raw)
	}
	if err != nil {
		return fmt.Errorf("jsstore: create schedule %s: %w", sc.ID, err)
	}
	return s.holdScheduleLimit(ctx, sc, key, rev)
}

// ownSchedule returns the revision of key if it holds raw, and
// persistence.ErrExists if it holds another schedule.
func (s *Store) ownSchedule(ctx context.Context, key, id string, raw []byte) (uint64, error) {
	entry, err := s.rest.schedules.Get(ctx, key)
	if err == nil && bytes.Equal(entry.Value(), raw) {
		return entry.Revision(), nil
	}
	if err == nil || notFound(err) {
		return 0, fmt.Errorf("%w: schedule %s", persistence.ErrExists, id)
	}
	return 0, err
}

// holdScheduleLimit withdraws the schedule just created at rev if it
// ranks past scheduleLimit among its workspace's schedules.
func (s *Store) holdScheduleLimit(ctx context.Context, sc persistence.Schedule, key string, rev uint64) error {
	revs, err := s.keyRevisions(ctx, s.rest.schedules, token(sc.Workspace)+".>")
	if err != nil {
		return err
	}
	earlier := 0
	for _, r := range revs {
		if r < rev {
			earlier++
		}
	}
	if earlier < scheduleLimit {
		return nil
	}
	err = s.rest.schedules.Purge(ctx, key, jetstream.LastRevision(rev))
	if err != nil && !casLost(err) {
		return fmt.Errorf("jsstore: withdraw schedule %s: %w", sc.ID, err)
	}
	return fmt.Errorf("workspace %s holds %d schedules: %w", sc.Workspace, earlier, persistence.ErrLimit)
}

// keyRevisions reads the revision of every key of kv matching filter.
func (s *Store) keyRevisions(ctx context.Context, kv jetstream.KeyValue, filter string) ([]uint64, error) {
	var revs []uint64
	err := s.watchAll(ctx, kv, filter, func(_ string, _ []byte, rev uint64) error {
		revs = append(revs, rev)
		return nil
	})
	return revs, err
}

// Schedule returns the schedule id of workspace ws, or an error wrapping
// persistence.ErrNotFound (also for another workspace's id).
func (s *Store) Schedule(ctx context.Context, ws, id string) (persistence.Schedule, error) {
	if err := s.open(); err != nil {
		return persistence.Schedule{}, err
	}
	sc, _, err := s.loadSchedule(ctx, ws, id)
	return sc, err
}

func (s *Store) loadSchedule(ctx context.Context, ws, id string) (persistence.Schedule, uint64, error) {
	if ws == "" || id == "" || len(ws) > maxIDLen || len(id) > maxIDLen {
		return persistence.Schedule{}, 0, fmt.Errorf("schedule %q: %w", id, persistence.ErrNotFound)
	}
	return getJSON[persistence.Schedule](ctx, s.rest.schedules, scheduleKey(ws, id), "schedule", id)
}

// Schedules returns the schedules of workspace ws, or of every workspace
// when ws is "", ordered by workspace then id (ids sort by creation time).
// It reads every key of the workspace (at most scheduleLimit).
func (s *Store) Schedules(ctx context.Context, ws string) ([]persistence.Schedule, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	filter := ">"
	if ws != "" {
		filter = token(ws) + ".>"
	}
	out, err := scan[persistence.Schedule](ctx, s, s.rest.schedules, filter)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b persistence.Schedule) int {
		if c := strings.Compare(a.Workspace, b.Workspace); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if out == nil {
		out = []persistence.Schedule{}
	}
	return out, nil
}

// UpdateSchedule applies fn to the stored schedule id of workspace ws and
// stores the result if nobody else changed the schedule meanwhile (a
// compare-and-set on its revision); if someone did, it reads the schedule
// again and calls fn again on the new record. So fn may run more than
// once: it must be quick and pure (decide from the record it is given,
// not from an earlier call), and must not call the Store. An error from fn
// writes nothing and is returned. The workspace, id and CreatedAt cannot
// be changed. It returns the record as stored.
func (s *Store) UpdateSchedule(ctx context.Context, ws, id string, fn func(*persistence.Schedule) error) (persistence.Schedule, error) {
	if err := s.open(); err != nil {
		return persistence.Schedule{}, err
	}
	for n := range scheduleCASAttempts {
		if n > 0 {
			if err := casPause(ctx, n-1); err != nil {
				return persistence.Schedule{}, err
			}
		}
		cur, rev, err := s.loadSchedule(ctx, ws, id)
		if err != nil {
			return persistence.Schedule{}, err
		}
		next := cur
		if err := fn(&next); err != nil {
			return persistence.Schedule{}, err
		}
		next.ID, next.Workspace, next.CreatedAt = cur.ID, cur.Workspace, cur.CreatedAt
		raw, err := json.Marshal(next)
		if err != nil {
			return persistence.Schedule{}, fmt.Errorf("jsstore: encode schedule %s: %w", id, err)
		}
		_, err = s.rest.schedules.Update(ctx, scheduleKey(ws, id), raw, rev)
		if err == nil {
			return next, nil
		}
		if !casLost(err) {
			return persistence.Schedule{}, fmt.Errorf("jsstore: update schedule %s: %w", id, err)
		}
	}
	return persistence.Schedule{}, fmt.Errorf("jsstore: schedule %s keeps changing under this update", id)
}

// DeleteSchedule removes the schedule id of workspace ws, or fails with
// persistence.ErrNotFound. An update racing with it loses: it finds the
// schedule gone.
func (s *Store) DeleteSchedule(ctx context.Context, ws, id string) error {
	if err := s.open(); err != nil {
		return err
	}
	for n := range scheduleCASAttempts {
		if n > 0 {
			if err := casPause(ctx, n-1); err != nil {
				return err
			}
		}
		_, rev, err := s.loadSchedule(ctx, ws, id)
		if err != nil {
			return err
		}
		err = s.rest.schedules.Purge(ctx, scheduleKey(ws, id), jetstream.LastRevision(rev))
		if err == nil {
			return nil
		}
		if !casLost(err) {
			return fmt.Errorf("jsstore: delete schedule %s: %w", id, err)
		}
		// Changed meanwhile, or a retried purge that had landed: look again.
		if _, _, err := s.loadSchedule(ctx, ws, id); errors.Is(err, persistence.ErrNotFound) {
			return nil
		}
	}
	return fmt.Errorf("jsstore: schedule %s keeps changing under this delete", id)
}
