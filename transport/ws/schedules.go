package ws

import (
	"context"

	"github.com/weft-run/weft"

	"github.com/weft-run/weft/actors"
)

// Schedule services (PROTOCOL.md section 4, schedule.*). Scopes
// (schedules:read / schedules:write) and workspaces are checked by the
// service.

type scheduleIDRequest struct {
	ScheduleID string `json:"schedule_id"`
}

func (r *request) scheduleID() (string, error) {
	var req scheduleIDRequest
	if err := r.decode(&req); err != nil {
		return "", err
	}
	return req.ScheduleID, nil
}

func scheduleCreate(ctx context.Context, r *request) (any, error) {
	var req actors.ScheduleRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.CreateSchedule(ctx, r.who, req)
}

func scheduleList(ctx context.Context, r *request) (any, error) {
	return r.c.svc.ListSchedules(ctx, r.who)
}

// scheduleCall adapts the services that take only a schedule_id.
func scheduleCall[T any](f func(*actors.Service, context.Context, weft.Identity, string) (T, error)) handler {
	return func(ctx context.Context, r *request) (any, error) {
		id, err := r.scheduleID()
		if err != nil {
			return nil, err
		}
		return f(r.c.svc, ctx, r.who, id)
	}
}

// addScheduleServices puts the schedule.* services in the dispatch table.
func addScheduleServices(m map[string]handler) {
	m["schedule.create"] = scheduleCreate
	m["schedule.list"] = scheduleList
	m["schedule.get"] = scheduleGet
	m["schedule.pause"] = schedulePause
	m["schedule.resume"] = scheduleResume
	m["schedule.delete"] = scheduleDelete
	m["schedule.trigger"] = scheduleTrigger
}

var (
	scheduleGet     = scheduleCall((*actors.Service).GetSchedule)
	schedulePause   = scheduleCall((*actors.Service).PauseSchedule)
	scheduleResume  = scheduleCall((*actors.Service).ResumeSchedule)
	scheduleDelete  = scheduleCall((*actors.Service).DeleteSchedule)
	scheduleTrigger = scheduleCall((*actors.Service).TriggerSchedule)
)
