package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Schedules over HTTP (PROTOCOL.md section 8, /api/v1/schedules): the same
// service as the socket's schedule.*, so this checks the translation
// (paths, bodies, statuses); the rules are tested over the socket
// (schedules_test.go) and the scopes by the walk (scopes_test.go).

func TestHTTPScheduleLifecycle(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "")

	// Create: 201, {"schedule_id","next_run_at"}, Location.
	r := httpDo(t, ts, "POST", "/api/v1/schedules", adminToken, map[string]any{
		"workflow": "echo", "parameters": map[string]any{"n": 7}, "cron": "0 9 * * 1-5", "tz": "Europe/Paris", "overlap": "allow",
	})
	r.expectStatus(t, http.StatusCreated)
	created := decode[struct {
		ScheduleID string    `json:"schedule_id"`
		NextRunAt  time.Time `json:"next_run_at"`
	}](t, r.body)
	id := created.ScheduleID
	if !strings.HasPrefix(id, "sched_") || !created.NextRunAt.After(time.Now()) {
		t.Fatalf("create answered %s", r.body)
	}
	if loc := r.header.Get("Location"); loc != "/api/v1/schedules/"+id {
		t.Fatalf("Location %q", loc)
	}

	// Get, and the list.
	r = httpDo(t, ts, "GET", r.header.Get("Location"), adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	info := decode[schedInfo](t, r.body)
	if info.ID != id || info.ScheduleID != id || info.Workflow != "echo" || info.Paused || info.NextRunAt == nil ||
		!info.NextRunAt.Equal(created.NextRunAt) || info.Spec.Cron != "0 9 * * 1-5" || info.Spec.TZ != "Europe/Paris" {
		t.Fatalf("get answered %s", r.body)
	}
	if !strings.Contains(string(r.body), `"parameters":{"n":7}`) || !strings.Contains(string(r.body), `"overlap":"allow"`) {
		t.Fatalf("get answered %s", r.body)
	}
	r = httpDo(t, ts, "GET", "/api/v1/schedules", adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	list := decode[struct {
		Schedules []schedInfo `json:"schedules"`
		Total     int         `json:"total"`
		Active    int         `json:"active"`
		Paused    int         `json:"paused"`
	}](t, r.body)
	if list.Total != 1 || list.Active != 1 || list.Paused != 0 || len(list.Schedules) != 1 || list.Schedules[0].ID != id {
		t.Fatalf("list answered %s", r.body)
	}

	type state struct {
		ScheduleID string     `json:"schedule_id"`
		Paused     bool       `json:"paused"`
		NextRunAt  *time.Time `json:"next_run_at"`
		Deleted    bool       `json:"deleted"`
	}

	// Pause (twice: a no-op), then the schedule has no next run.
	for range 2 {
		r = httpDo(t, ts, "POST", "/api/v1/schedules/"+id+"/pause", adminToken, nil)
		r.expectStatus(t, http.StatusOK)
		if st := decode[state](t, r.body); st.ScheduleID != id || !st.Paused || st.NextRunAt != nil || st.Deleted {
			t.Fatalf("pause answered %s", r.body)
		}
	}
	r = httpDo(t, ts, "GET", "/api/v1/schedules/"+id, adminToken, nil)
	if info := decode[schedInfo](t, r.body); !info.Paused || info.NextRunAt != nil {
		t.Fatalf("paused schedule: %s", r.body)
	}

	// Resume: a next run again.
	r = httpDo(t, ts, "POST", "/api/v1/schedules/"+id+"/resume", adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	if st := decode[state](t, r.body); st.ScheduleID != id || st.Paused || st.NextRunAt == nil || !st.NextRunAt.After(time.Now()) {
		t.Fatalf("resume answered %s", r.body)
	}

	// Trigger: an execution now, with the schedule in its metadata.
	r = httpDo(t, ts, "POST", "/api/v1/schedules/"+id+"/trigger", adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	trig := decode[struct {
		ScheduleID  string `json:"schedule_id"`
		ExecutionID string `json:"execution_id"`
		Status      string `json:"status"`
	}](t, r.body)
	if trig.ScheduleID != id || !strings.HasPrefix(trig.ExecutionID, "exec_") || trig.Status == "" {
		t.Fatalf("trigger answered %s", r.body)
	}
	httpWaitStatus(t, ts, adminToken, trig.ExecutionID, "completed")
	r = httpDo(t, ts, "GET", "/api/v1/executions/"+trig.ExecutionID, adminToken, nil)
	exec := decode[schedExec](t, r.body)
	if exec.Metadata.ScheduleID != id || exec.Metadata.TriggeredBy != "alice" {
		t.Fatalf("triggered execution: %s", r.body)
	}
	r = httpDo(t, ts, "GET", "/api/v1/schedules/"+id, adminToken, nil)
	if info := decode[schedInfo](t, r.body); info.LastExecutionID != trig.ExecutionID {
		t.Fatalf("after the trigger: %s", r.body)
	}

	// Delete; then every route of the schedule answers 404.
	r = httpDo(t, ts, "DELETE", "/api/v1/schedules/"+id, adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	if st := decode[state](t, r.body); st.ScheduleID != id || !st.Paused || !st.Deleted {
		t.Fatalf("delete answered %s", r.body)
	}
	for _, q := range []struct{ method, suffix string }{
		{"GET", ""}, {"DELETE", ""}, {"POST", "/pause"}, {"POST", "/resume"}, {"POST", "/trigger"},
	} {
		httpDo(t, ts, q.method, "/api/v1/schedules/"+id+q.suffix, adminToken, nil).expectError(t, http.StatusNotFound, "SCHEDULE_NOT_FOUND")
	}
	r = httpDo(t, ts, "GET", "/api/v1/schedules", adminToken, nil)
	r.expectStatus(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"schedules":[]`) || !strings.Contains(string(r.body), `"total":0`) {
		t.Fatalf("list after delete: %s", r.body)
	}
}

// The create body is checked by the service, and what is not JSON by the
// adapter; both answer 400 INVALID_REQUEST (or the service's code).
func TestHTTPScheduleCreateRefusals(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "")
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"no body", nil, 400, "INVALID_REQUEST"},
		{"not JSON", "{cron", 400, "INVALID_REQUEST"},
		{"not an object", `["echo"]`, 400, "INVALID_REQUEST"},
		{"no spec", map[string]any{"workflow": "echo"}, 400, "INVALID_REQUEST"},
		{"cron and every", map[string]any{"workflow": "echo", "cron": "* * * * *", "every": "1m"}, 400, "INVALID_REQUEST"},
		{"bad overlap", map[string]any{"workflow": "echo", "every": "1m", "overlap": "sometimes"}, 400, "INVALID_REQUEST"},
		{"unknown workflow", map[string]any{"workflow": "nope", "every": "1m"}, 404, "WORKFLOW_NOT_FOUND"},
		{"too large", `{"workflow":"echo","every":"1m","parameters":{"x":"` + strings.Repeat("x", 70000) + `"}}`, 413, "WS_MESSAGE_TOO_LARGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			httpDo(t, ts, "POST", "/api/v1/schedules", adminToken, tc.body).expectError(t, tc.status, tc.code)
		})
	}
	// Nothing was created; a method the path does not take is refused by
	// the mux.
	r := httpDo(t, ts, "GET", "/api/v1/schedules", adminToken, nil)
	if !strings.Contains(string(r.body), `"total":0`) {
		t.Fatalf("list after refusals: %s", r.body)
	}
	httpDo(t, ts, "PUT", "/api/v1/schedules/sched_x", adminToken, nil).expectError(t, http.StatusNotFound, "UNKNOWN_SERVICE")
}
