package actors

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// Schedules (PROTOCOL.md section 4, schedule.*): the service methods. The
// scheduler that fires them is in scheduler.go.

// maxSchedulesPerWorkspace bounds the work of one workspace's schedules.
const maxSchedulesPerWorkspace = 1000

// ScheduleRequest is the request of schedule.create.
type ScheduleRequest struct {
	Workflow   string          `json:"workflow"`
	Parameters json.RawMessage `json:"parameters"`
	Cron       string          `json:"cron"`
	TZ         string          `json:"tz"`
	Every      string          `json:"every"`
	Overlap    string          `json:"overlap"`  // skip (default), allow, cancel_previous
	CatchUp    string          `json:"catch_up"` // skip (default), run_once
}

// ScheduleCreated answers schedule.create.
type ScheduleCreated struct {
	ScheduleID string    `json:"schedule_id"`
	NextRunAt  time.Time `json:"next_run_at"`
}

// ScheduleSpecInfo is when a schedule fires: cron (with tz) or every.
type ScheduleSpecInfo struct {
	Cron  string `json:"cron,omitempty"`
	TZ    string `json:"tz,omitempty"`
	Every string `json:"every,omitempty"`
}

// ScheduleInfo answers schedule.get and is one item of schedule.list.
type ScheduleInfo struct {
	// ID and ScheduleID are the same: PROTOCOL.md names it id, and
	// schedule.create answers schedule_id.
	ID              string           `json:"id"`
	ScheduleID      string           `json:"schedule_id"`
	Workflow        string           `json:"workflow"`
	Parameters      json.RawMessage  `json:"parameters"`
	Spec            ScheduleSpecInfo `json:"spec"`
	Overlap         string           `json:"overlap"`
	CatchUp         string           `json:"catch_up"`
	Paused          bool             `json:"paused"`
	NextRunAt       *time.Time       `json:"next_run_at"` // null while paused
	LastRunAt       *time.Time       `json:"last_run_at,omitempty"`
	LastExecutionID string           `json:"last_execution_id"`
	LastError       string           `json:"last_error,omitempty"`
	Firings         int64            `json:"firings"`
	Skipped         int64            `json:"skipped"`
	Missed          int64            `json:"missed"`
	CreatedBy       string           `json:"created_by,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`
	UpdatedAt       time.Time        `json:"updated_at"`
}

// ScheduleList answers schedule.list: the workspace's schedules, oldest
// first, with counts (the operator's view until /metrics has a gauge).
type ScheduleList struct {
	Schedules []ScheduleInfo `json:"schedules"`
	Total     int            `json:"total"`
	Active    int            `json:"active"`
	Paused    int            `json:"paused"`
}

// ScheduleState answers schedule.pause, schedule.resume and
// schedule.delete.
type ScheduleState struct {
	ScheduleID string     `json:"schedule_id"`
	Paused     bool       `json:"paused"`
	NextRunAt  *time.Time `json:"next_run_at,omitempty"`
	Deleted    bool       `json:"deleted,omitempty"`
}

// ScheduleTriggered answers schedule.trigger.
type ScheduleTriggered struct {
	ScheduleID  string      `json:"schedule_id"`
	ExecutionID string      `json:"execution_id"`
	Status      weft.Status `json:"status"`
}

func scheduleInfo(sc persistence.Schedule) ScheduleInfo {
	info := ScheduleInfo{
		ID: sc.ID, ScheduleID: sc.ID, Workflow: sc.Workflow, Parameters: sc.Parameters,
		Spec:    ScheduleSpecInfo{Cron: sc.Cron, TZ: sc.TZ, Every: sc.Every},
		Overlap: sc.Overlap, CatchUp: sc.CatchUp, Paused: sc.Paused,
		LastExecutionID: sc.LastExecutionID, LastError: sc.LastError,
		Firings: sc.Firings, Skipped: sc.Skipped, Missed: sc.Missed,
		CreatedBy: sc.CreatedBy, CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt,
	}
	if !sc.Paused && !sc.NextRunAt.IsZero() {
		t := sc.NextRunAt
		info.NextRunAt = &t
	}
	if !sc.LastRunAt.IsZero() {
		t := sc.LastRunAt
		info.LastRunAt = &t
	}
	return info
}

func scheduleNotFound(id string) error {
	return weft.Errorf(weft.CodeScheduleNotFound, "no schedule %q", id)
}

// storeScheduleErr maps a store error of a schedule to a protocol error.
func storeScheduleErr(id string, err error) error {
	var werr *weft.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, persistence.ErrNotFound):
		return scheduleNotFound(id)
	case errors.As(err, &werr):
		return werr
	}
	return weft.Internal(err)
}

// CreateSchedule answers schedule.create: it checks the workflow, its
// parameters and the spec, then durably stores the schedule and wakes the
// scheduler. The first firing is the first spec time after now.
func (s *Service) CreateSchedule(ctx context.Context, who weft.Identity, req ScheduleRequest) (created ScheduleCreated, auditErr error) {
	defer func() { s.audited(ctx, who, "schedule.create", created.ScheduleID, &auditErr) }()
	if err := who.Require(weft.ScopeSchedulesWrite); err != nil {
		return ScheduleCreated{}, err
	}
	if req.Workflow == "" {
		return ScheduleCreated{}, weft.Errorf(weft.CodeInvalidRequest, "workflow is required")
	}
	def, ok := s.sys.registry.Lookup(req.Workflow)
	if !ok {
		return ScheduleCreated{}, weft.Errorf(weft.CodeWorkflowNotFound, "no workflow named %q", req.Workflow)
	}
	params, err := objectOrEmpty("parameters", req.Parameters)
	if err != nil {
		return ScheduleCreated{}, err
	}
	if err := def.Validate(params); err != nil {
		return ScheduleCreated{}, err // INVALID_REQUEST naming the field: "parameters.steps: must be <= 100000"
	}
	switch req.Overlap {
	case "":
		req.Overlap = OverlapSkip
	case OverlapSkip, OverlapAllow, OverlapCancelPrevious:
	default:
		return ScheduleCreated{}, weft.Errorf(weft.CodeInvalidRequest, "overlap must be skip, allow or cancel_previous")
	}
	switch req.CatchUp {
	case "":
		req.CatchUp = CatchUpSkip
	case CatchUpSkip, CatchUpRunOnce:
	default:
		return ScheduleCreated{}, weft.Errorf(weft.CodeInvalidRequest, "catch_up must be skip or run_once")
	}
	now := time.Now().UTC()
	spec, err := parseScheduleSpec(req.Cron, req.TZ, req.Every, now)
	if err != nil {
		return ScheduleCreated{}, err
	}
	existing, err := s.sys.store.Schedules(ctx, who.Workspace)
	if err != nil {
		return ScheduleCreated{}, weft.Internal(err)
	}
	if len(existing) >= maxSchedulesPerWorkspace {
		return ScheduleCreated{}, weft.Errorf(weft.CodeInvalidRequest, "a workspace has at most %d schedules", maxSchedulesPerWorkspace)
	}
	sc := persistence.Schedule{
		ID: weft.NewID("sched_"), Workspace: who.Workspace, Workflow: req.Workflow, Parameters: params,
		Overlap: req.Overlap, CatchUp: req.CatchUp,
		NextRunAt: spec.after(now),
		CreatedBy: who.Name, CreatedAt: now, UpdatedAt: now,
	}
	if spec.cron != nil {
		sc.Cron, sc.TZ = normalizeSpaces(req.Cron), trimmed(req.TZ)
	} else {
		sc.Every = spec.every.String()
	}
	sched := s.sys.sched.get(s.sys)
	if err := sched.change(func() error { return s.sys.store.CreateSchedule(ctx, sc) }); err != nil {
		return ScheduleCreated{}, weft.Internal(err)
	}
	return ScheduleCreated{ScheduleID: sc.ID, NextRunAt: sc.NextRunAt}, nil
}

// ListSchedules answers schedule.list with the caller's workspace's
// schedules.
func (s *Service) ListSchedules(ctx context.Context, who weft.Identity) (ScheduleList, error) {
	if err := who.Require(weft.ScopeSchedulesRead); err != nil {
		return ScheduleList{}, err
	}
	list, err := s.sys.store.Schedules(ctx, who.Workspace)
	if err != nil {
		return ScheduleList{}, weft.Internal(err)
	}
	out := ScheduleList{Schedules: make([]ScheduleInfo, len(list)), Total: len(list)}
	for i, sc := range list {
		out.Schedules[i] = scheduleInfo(sc)
		if sc.Paused {
			out.Paused++
		} else {
			out.Active++
		}
	}
	return out, nil
}

// GetSchedule answers schedule.get. Another workspace's schedule answers
// SCHEDULE_NOT_FOUND.
func (s *Service) GetSchedule(ctx context.Context, who weft.Identity, id string) (ScheduleInfo, error) {
	if err := who.Require(weft.ScopeSchedulesRead); err != nil {
		return ScheduleInfo{}, err
	}
	if id == "" {
		return ScheduleInfo{}, weft.Errorf(weft.CodeInvalidRequest, "schedule_id is required")
	}
	sc, err := s.sys.store.Schedule(ctx, who.Workspace, id)
	if err != nil {
		return ScheduleInfo{}, storeScheduleErr(id, err)
	}
	return scheduleInfo(sc), nil
}

// PauseSchedule answers schedule.pause: no firing until resumed. Pausing
// a paused schedule is a no-op.
func (s *Service) PauseSchedule(ctx context.Context, who weft.Identity, id string) (_ ScheduleState, auditErr error) {
	defer s.audited(ctx, who, "schedule.pause", id, &auditErr)
	return s.setPaused(ctx, who, id, true)
}

// ResumeSchedule answers schedule.resume: the next firing is the first
// spec time after now (firings due while paused are not caught up).
// Resuming an active schedule is a no-op.
func (s *Service) ResumeSchedule(ctx context.Context, who weft.Identity, id string) (_ ScheduleState, auditErr error) {
	defer s.audited(ctx, who, "schedule.resume", id, &auditErr)
	return s.setPaused(ctx, who, id, false)
}

func (s *Service) setPaused(ctx context.Context, who weft.Identity, id string, paused bool) (ScheduleState, error) {
	if err := who.Require(weft.ScopeSchedulesWrite); err != nil {
		return ScheduleState{}, err
	}
	if id == "" {
		return ScheduleState{}, weft.Errorf(weft.CodeInvalidRequest, "schedule_id is required")
	}
	var sc persistence.Schedule
	sched := s.sys.sched.get(s.sys)
	err := sched.change(func() (err error) {
		sc, err = s.sys.store.UpdateSchedule(ctx, who.Workspace, id, func(sc *persistence.Schedule) error {
			if sc.Paused == paused {
				return nil
			}
			now := time.Now().UTC()
			sc.Paused, sc.UpdatedAt = paused, now
			if paused {
				sc.NextRunAt = time.Time{}
				return nil
			}
			spec, err := parseScheduleSpec(sc.Cron, sc.TZ, sc.Every, sc.CreatedAt)
			if err != nil {
				return err
			}
			sc.NextRunAt = spec.after(now)
			return nil
		})
		return err
	})
	if err != nil {
		return ScheduleState{}, storeScheduleErr(id, err)
	}
	st := ScheduleState{ScheduleID: id, Paused: sc.Paused}
	if info := scheduleInfo(sc); info.NextRunAt != nil {
		st.NextRunAt = info.NextRunAt
	}
	return st, nil
}

// DeleteSchedule answers schedule.delete. Once it has answered, the
// schedule fires no more; executions it started are left alone.
func (s *Service) DeleteSchedule(ctx context.Context, who weft.Identity, id string) (_ ScheduleState, auditErr error) {
	defer s.audited(ctx, who, "schedule.delete", id, &auditErr)
	if err := who.Require(weft.ScopeSchedulesWrite); err != nil {
		return ScheduleState{}, err
	}
	if id == "" {
		return ScheduleState{}, weft.Errorf(weft.CodeInvalidRequest, "schedule_id is required")
	}
	sched := s.sys.sched.get(s.sys)
	if err := sched.change(func() error { return s.sys.store.DeleteSchedule(ctx, who.Workspace, id) }); err != nil {
		return ScheduleState{}, storeScheduleErr(id, err)
	}
	return ScheduleState{ScheduleID: id, Paused: true, Deleted: true}, nil
}

// TriggerSchedule answers schedule.trigger: it starts one execution of the
// schedule now, whether the schedule is paused or not and whatever its
// overlap policy (the operator asked for it), with metadata schedule_id,
// scheduled_for (now) and triggered_by. The schedule's next firing does
// not move.
func (s *Service) TriggerSchedule(ctx context.Context, who weft.Identity, id string) (_ ScheduleTriggered, auditErr error) {
	defer s.audited(ctx, who, "schedule.trigger", id, &auditErr)
	if err := who.Require(weft.ScopeSchedulesWrite); err != nil {
		return ScheduleTriggered{}, err
	}
	if id == "" {
		return ScheduleTriggered{}, weft.Errorf(weft.CodeInvalidRequest, "schedule_id is required")
	}
	res, err := s.sys.sched.get(s.sys).trigger(ctx, who, id)
	if err != nil {
		return ScheduleTriggered{}, storeScheduleErr(id, err)
	}
	return ScheduleTriggered{ScheduleID: id, ExecutionID: res.ExecutionID, Status: res.Status}, nil
}
