package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
)

// Schedule routes (PROTOCOL.md section 8, schedule.*). Scopes
// (schedules:read / schedules:write) and workspaces are checked by the
// service.

// createSchedule: the body is schedule.create's request; 201 with
// {"schedule_id","next_run_at"}.
func (a *API) createSchedule(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	var req actors.ScheduleRequest
	if err := a.decodeObject(w, r, &req); err != nil {
		return err
	}
	res, err := a.svc.CreateSchedule(r.Context(), who, req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/schedules/"+url.PathEscape(res.ScheduleID))
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (a *API) listSchedules(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	res, err := a.svc.ListSchedules(r.Context(), who)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// scheduleCall adapts the services that take only a schedule id (the path's
// {id}); the answer is the socket's, with 200.
func scheduleCall[T any](a *API, f func(*actors.Service, context.Context, weft.Identity, string) (T, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
		res, err := f(a.svc, r.Context(), who, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
}
