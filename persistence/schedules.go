package persistence

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bktSchedules holds every schedule, keyed lp(workspace) id -> Schedule
// JSON. The workspace leads the key, so a workspace-scoped read of another
// workspace's id finds nothing, and a workspace's schedules are one prefix
// scan. The scheduler reads them all at start and after each change; their
// number is small next to executions, so there is no other index.
var bktSchedules = []byte("schedules")

// Schedule is the durable record of one schedule: what to start, when, and
// the scheduler's progress (NextRunAt, LastRunAt, LastExecutionID). The
// progress is written after the firing's execution is stored, so a crash in
// between leaves the older NextRunAt, and the idempotency key of the firing
// (derived from NextRunAt) keeps the re-fire from starting a second run.
type Schedule struct {
	ID         string          `json:"schedule_id"`
	Workspace  string          `json:"workspace"`
	Workflow   string          `json:"workflow"`
	Parameters json.RawMessage `json:"parameters"`
	// Exactly one of Cron (5 fields, in TZ, UTC when empty) and Every (a Go
	// duration) is set.
	Cron    string `json:"cron,omitempty"`
	TZ      string `json:"tz,omitempty"`
	Every   string `json:"every,omitempty"`
	Overlap string `json:"overlap"`  // skip, allow, cancel_previous
	CatchUp string `json:"catch_up"` // skip, run_once
	Paused  bool   `json:"paused"`
	// NextRunAt is the next due firing (zero while paused).
	NextRunAt time.Time `json:"next_run_at,omitzero"`
	// LastRunAt is the scheduled time of the last firing handled (started,
	// or skipped by the overlap policy).
	LastRunAt       time.Time `json:"last_run_at,omitzero"`
	LastExecutionID string    `json:"last_execution_id,omitempty"`
	LastError       string    `json:"last_error,omitempty"`
	// Firings counts the executions the schedule started (triggers
	// included); Skipped counts firings the overlap policy skipped; Missed
	// counts firings that fell in a downtime and were not run (catch_up).
	Firings   int64     `json:"firings"`
	Skipped   int64     `json:"skipped"`
	Missed    int64     `json:"missed"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func scheduleKey(ws, id string) []byte { return append(appendLP(nil, ws), id...) }

// CreateSchedule durably stores a new schedule. An id already stored in
// the workspace is ErrExists.
func (s *Store) CreateSchedule(ctx context.Context, sc Schedule) error {
	if sc.ID == "" || sc.Workspace == "" || sc.Workflow == "" {
		return fmt.Errorf("%w: schedule needs an id, a workspace and a workflow", ErrInvalid)
	}
	key := scheduleKey(sc.Workspace, sc.ID)
	if len(key) > bolt.MaxKeySize {
		return fmt.Errorf("%w: schedule id %q is too long", ErrInvalid, sc.ID)
	}
	raw, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("persistence: encode schedule %s: %w", sc.ID, err)
	}
	return s.do(ctx, &scheduleOp{key: key, id: sc.ID, create: raw})
}

// Schedule returns the schedule id of workspace ws, or an error wrapping
// ErrNotFound (also for another workspace's id).
func (s *Store) Schedule(ctx context.Context, ws, id string) (Schedule, error) {
	var sc Schedule
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		sc, err = loadSchedule(tx, scheduleKey(ws, id), id)
		return err
	})
	return sc, err
}

// Schedules returns the schedules of workspace ws, or of every workspace
// when ws is "", ordered by workspace then id (ids sort by creation time).
func (s *Store) Schedules(ctx context.Context, ws string) ([]Schedule, error) {
	out := []Schedule{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktSchedules).Cursor()
		prefix := []byte{}
		if ws != "" {
			prefix = appendLP(nil, ws)
		}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var sc Schedule
			if err := json.Unmarshal(v, &sc); err != nil {
				return fmt.Errorf("persistence: decode schedule %x: %w", k, err)
			}
			out = append(out, sc)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateSchedule applies fn to the stored schedule id of workspace ws and
// stores the result, atomically with respect to every other write: fn sees
// the latest committed record (and the earlier writes of its batch). fn
// runs on the store's writer goroutine: it must be quick, pure and must not
// call the Store. An error from fn writes nothing and is returned. The
// workspace, id and CreatedAt cannot be changed. It returns the record as
// stored.
func (s *Store) UpdateSchedule(ctx context.Context, ws, id string, fn func(*Schedule) error) (Schedule, error) {
	o := &scheduleOp{key: scheduleKey(ws, id), id: id, update: fn}
	if err := s.do(ctx, o); err != nil {
		return Schedule{}, err
	}
	return o.result, nil
}

// DeleteSchedule removes the schedule id of workspace ws, or fails with
// ErrNotFound.
func (s *Store) DeleteSchedule(ctx context.Context, ws, id string) error {
	return s.do(ctx, &scheduleOp{key: scheduleKey(ws, id), id: id, delete: true})
}

// scheduleOp is one of create, update or delete of one schedule.
type scheduleOp struct {
	key    []byte
	id     string
	create []byte                // create: the record
	update func(*Schedule) error // update: the change
	delete bool                  // delete
	raw    []byte                // update: the new record, encoded by check
	result Schedule              // update: the new record
}

func (o *scheduleOp) check(tx *bolt.Tx) error {
	b := tx.Bucket(bktSchedules)
	if o.create != nil {
		if b.Get(o.key) != nil {
			return fmt.Errorf("%w: schedule %s", ErrExists, o.id)
		}
		return nil
	}
	cur, err := loadSchedule(tx, o.key, o.id)
	if err != nil || o.delete {
		return err
	}
	next := cur
	next.Parameters = append(json.RawMessage(nil), cur.Parameters...)
	if err := o.update(&next); err != nil {
		return err
	}
	next.ID, next.Workspace, next.CreatedAt = cur.ID, cur.Workspace, cur.CreatedAt
	raw, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("persistence: encode schedule %s: %w", o.id, err)
	}
	o.raw, o.result = raw, next
	return nil
}

func (o *scheduleOp) put(tx *bolt.Tx) error {
	b := tx.Bucket(bktSchedules)
	switch {
	case o.create != nil:
		return b.Put(o.key, o.create)
	case o.delete:
		return b.Delete(o.key)
	default:
		return b.Put(o.key, o.raw)
	}
}

func loadSchedule(tx *bolt.Tx, key []byte, id string) (Schedule, error) {
	var sc Schedule
	raw := tx.Bucket(bktSchedules).Get(key)
	if raw == nil {
		return sc, fmt.Errorf("schedule %s: %w", id, ErrNotFound)
	}
	if err := json.Unmarshal(raw, &sc); err != nil {
		return sc, fmt.Errorf("persistence: decode schedule %s: %w", id, err)
	}
	return sc, nil
}

// ExecutionByIdempotencyKey returns the id of the execution of workspace
// ws and workflow that was created with key, and whether there is one. The
// scheduler uses it to tell a firing that started before a crash from one
// that never did.
func (s *Store) ExecutionByIdempotencyKey(ctx context.Context, ws, workflow, key string) (string, bool, error) {
	var id string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bktIdempotency).Get(idempotencyKey(ws, workflow, key)); v != nil {
			id = string(v)
		}
		return nil
	})
	return id, id != "", err
}
