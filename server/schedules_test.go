package server_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Schedules over the socket (PROTOCOL.md section 4, schedule.*).

type schedInfo struct {
	ID              string     `json:"id"`
	ScheduleID      string     `json:"schedule_id"`
	Workflow        string     `json:"workflow"`
	Paused          bool       `json:"paused"`
	NextRunAt       *time.Time `json:"next_run_at"`
	LastExecutionID string     `json:"last_execution_id"`
	Firings         int64      `json:"firings"`
	Skipped         int64      `json:"skipped"`
	CreatedAt       time.Time  `json:"created_at"`
	Spec            struct {
		Cron, TZ, Every string
	} `json:"spec"`
}

type schedExec struct {
	ExecutionID string    `json:"execution_id"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Metadata    struct {
		ScheduleID   string    `json:"schedule_id"`
		ScheduledFor time.Time `json:"scheduled_for"`
		TriggeredBy  string    `json:"triggered_by"`
	} `json:"metadata"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// mustOK calls a service and fails the test on an error answer.
func (c *client) mustOK(service string, req any) json.RawMessage {
	c.t.Helper()
	f := c.call("r", service, req)
	if f.Error != nil {
		c.t.Fatalf("%s %v: %s: %s", service, req, f.Error.Code, f.Error.Message)
	}
	return f.Response
}

// mustFail calls a service and fails the test unless it answers code.
func (c *client) mustFail(service string, req any, code string) {
	c.t.Helper()
	f := c.call("r", service, req)
	if f.Error == nil || f.Error.Code != code {
		c.t.Fatalf("%s %v answered %s %+v, want error %s", service, req, f.Response, f.Error, code)
	}
}

func createSchedule(t *testing.T, c *client, req map[string]any) string {
	t.Helper()
	got := decode[struct {
		ScheduleID string    `json:"schedule_id"`
		NextRunAt  time.Time `json:"next_run_at"`
	}](t, c.mustOK("schedule.create", req))
	if got.ScheduleID == "" || got.NextRunAt.IsZero() {
		t.Fatalf("schedule.create answered %+v", got)
	}
	return got.ScheduleID
}

func getSchedule(t *testing.T, c *client, id string) schedInfo {
	t.Helper()
	return decode[schedInfo](t, c.mustOK("schedule.get", map[string]any{"schedule_id": id}))
}

// scheduledExecutions lists the executions of workflow that schedule id
// started, oldest first.
func scheduledExecutions(t *testing.T, c *client, workflow, id string) []schedExec {
	t.Helper()
	list := decode[struct {
		Items []schedExec `json:"items"`
	}](t, c.mustOK("executions.list", map[string]any{"workflow": workflow, "limit": 1000}))
	var out []schedExec
	for _, e := range list.Items {
		if e.Metadata.ScheduleID == id {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b schedExec) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// waitFor polls cond every 25 ms until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestScheduleEverySecondFires(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	id := createSchedule(t, c, map[string]any{"workflow": "echo", "parameters": map[string]any{"n": 1}, "every": "1s"})
	created := getSchedule(t, c, id).CreatedAt
	time.Sleep(time.Until(created.Add(3500 * time.Millisecond)))
	c.mustOK("schedule.pause", map[string]any{"schedule_id": id})

	execs := scheduledExecutions(t, c, "echo", id)
	if n := len(execs); n < 3 || n > 4 {
		t.Fatalf("%d executions in 3.5 s of an every-1s schedule, want 3 or 4: %+v", n, execs)
	}
	for i, e := range execs {
		// Firings are created_at + k s, each exactly once.
		want := created.Add(time.Duration(i+1) * time.Second)
		if !e.Metadata.ScheduledFor.Equal(want) {
			t.Errorf("execution %d (%s) scheduled_for %s, want %s", i, e.ExecutionID, e.Metadata.ScheduledFor, want)
		}
	}
	for _, e := range execs {
		waitFor(t, 5*time.Second, "scheduled echo completes", func() bool {
			return decode[schedExec](t, c.mustOK("execution.get", map[string]any{"execution_id": e.ExecutionID})).Status == "completed"
		})
	}
	info := getSchedule(t, c, id)
	if info.Firings != int64(len(execs)) || info.LastExecutionID != execs[len(execs)-1].ExecutionID {
		t.Errorf("schedule.get %+v after %d firings (last %s)", info, len(execs), execs[len(execs)-1].ExecutionID)
	}
}

func TestSchedulePauseResumeTriggerDelete(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	id := createSchedule(t, c, map[string]any{"workflow": "echo", "parameters": map[string]any{"n": 2}, "every": "1s"})

	paused := decode[struct {
		ScheduleID string `json:"schedule_id"`
		Paused     bool   `json:"paused"`
	}](t, c.mustOK("schedule.pause", map[string]any{"schedule_id": id}))
	if paused.ScheduleID != id || !paused.Paused {
		t.Fatalf("pause answered %+v", paused)
	}
	if info := getSchedule(t, c, id); !info.Paused || info.NextRunAt != nil {
		t.Fatalf("paused schedule: %+v", info)
	}
	// Pausing again is a no-op.
	c.mustOK("schedule.pause", map[string]any{"schedule_id": id})

	// A paused schedule does not fire, but can be triggered.
	trig := decode[struct {
		ExecutionID string `json:"execution_id"`
	}](t, c.mustOK("schedule.trigger", map[string]any{"schedule_id": id}))
	time.Sleep(1500 * time.Millisecond)
	execs := scheduledExecutions(t, c, "echo", id)
	if len(execs) != 1 || execs[0].ExecutionID != trig.ExecutionID || execs[0].Metadata.TriggeredBy != "alice" {
		t.Fatalf("after 1.5 s paused and one trigger: %+v (trigger %s)", execs, trig.ExecutionID)
	}
	if info := getSchedule(t, c, id); info.LastExecutionID != trig.ExecutionID {
		t.Fatalf("last_execution_id %q, want the triggered %s", info.LastExecutionID, trig.ExecutionID)
	}

	resumed := decode[struct {
		Paused    bool       `json:"paused"`
		NextRunAt *time.Time `json:"next_run_at"`
	}](t, c.mustOK("schedule.resume", map[string]any{"schedule_id": id}))
	if resumed.Paused || resumed.NextRunAt == nil {
		t.Fatalf("resume answered %+v", resumed)
	}
	waitFor(t, 5*time.Second, "a firing after resume", func() bool { return len(scheduledExecutions(t, c, "echo", id)) >= 2 })

	deleted := decode[struct {
		Deleted bool `json:"deleted"`
	}](t, c.mustOK("schedule.delete", map[string]any{"schedule_id": id}))
	if !deleted.Deleted {
		t.Fatalf("delete answered %+v", deleted)
	}
	after := len(scheduledExecutions(t, c, "echo", id))
	for _, svc := range []string{"schedule.get", "schedule.pause", "schedule.resume", "schedule.trigger", "schedule.delete"} {
		c.mustFail(svc, map[string]any{"schedule_id": id}, "SCHEDULE_NOT_FOUND")
	}
	time.Sleep(1500 * time.Millisecond)
	if n := len(scheduledExecutions(t, c, "echo", id)); n != after {
		t.Fatalf("%d executions 1.5 s after the delete, %d at the delete: it still fires", n, after)
	}
	list := decode[struct {
		Schedules []schedInfo `json:"schedules"`
		Total     int         `json:"total"`
	}](t, c.mustOK("schedule.list", nil))
	if list.Total != 0 || len(list.Schedules) != 0 {
		t.Fatalf("list after delete: %+v", list)
	}
}

func scheduleToken(t *testing.T, workspace string, scopes ...string) string {
	t.Helper()
	return authMintJWT(t, jwtSecret, jwt.MapClaims{
		"sub": "sched-test", "workspace": workspace, "scopes": scopes, "exp": time.Now().Add(time.Hour).Unix(),
	})
}

func TestScheduleScopesAndWorkspaces(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "")
	admin := dial(t, ts, adminToken)
	id := createSchedule(t, admin, map[string]any{"workflow": "echo", "cron": "0 0 1 1 *", "tz": "Europe/Paris"})

	// Another workspace sees nothing of it, even with every scope.
	other := dial(t, ts, otherToken)
	for _, svc := range []string{"schedule.get", "schedule.pause", "schedule.resume", "schedule.trigger", "schedule.delete"} {
		other.mustFail(svc, map[string]any{"schedule_id": id}, "SCHEDULE_NOT_FOUND")
	}
	if list := decode[struct {
		Schedules []schedInfo `json:"schedules"`
	}](t, other.mustOK("schedule.list", nil)); len(list.Schedules) != 0 {
		t.Fatalf("globex lists %+v", list.Schedules)
	}
	if info := getSchedule(t, admin, id); info.Paused || info.Firings != 0 {
		t.Fatalf("after globex's attempts: %+v", info)
	}

	// schedules:read lists and gets, and nothing more.
	reader := dial(t, ts, scheduleToken(t, "acme", "schedules:read"))
	if list := decode[struct {
		Schedules []schedInfo `json:"schedules"`
		Total     int         `json:"total"`
		Active    int         `json:"active"`
	}](t, reader.mustOK("schedule.list", nil)); list.Total != 1 || list.Active != 1 || list.Schedules[0].ID != id {
		t.Fatalf("schedules:read lists %+v", list)
	}
	if info := getSchedule(t, reader, id); info.Spec.Cron != "0 0 1 1 *" || info.Spec.TZ != "Europe/Paris" || info.Workflow != "echo" {
		t.Fatalf("get: %+v", info)
	}
	reader.mustFail("schedule.create", map[string]any{"workflow": "echo", "every": "1m"}, "FORBIDDEN")
	for _, svc := range []string{"schedule.pause", "schedule.resume", "schedule.trigger", "schedule.delete"} {
		reader.mustFail(svc, map[string]any{"schedule_id": id}, "FORBIDDEN")
	}

	// schedules:write changes, but does not read.
	writer := dial(t, ts, scheduleToken(t, "acme", "schedules:write"))
	writer.mustFail("schedule.list", nil, "FORBIDDEN")
	writer.mustFail("schedule.get", map[string]any{"schedule_id": id}, "FORBIDDEN")
	writer.mustOK("schedule.pause", map[string]any{"schedule_id": id})
	writer.mustOK("schedule.trigger", map[string]any{"schedule_id": id})
	writer.mustOK("schedule.delete", map[string]any{"schedule_id": id})

	// executions:read is not a schedule scope.
	rita := dial(t, ts, readerToken)
	rita.mustFail("schedule.list", nil, "FORBIDDEN")
	rita.mustFail("schedule.get", map[string]any{"schedule_id": id}, "FORBIDDEN")
}

func TestScheduleSpecs(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	bad := []struct {
		name string
		req  map[string]any
		code string
	}{
		{"no spec", map[string]any{"workflow": "echo"}, "INVALID_REQUEST"},
		{"both", map[string]any{"workflow": "echo", "cron": "* * * * *", "every": "1m"}, "INVALID_REQUEST"},
		{"6 fields", map[string]any{"workflow": "echo", "cron": "0 * * * * *"}, "INVALID_REQUEST"},
		{"4 fields", map[string]any{"workflow": "echo", "cron": "* * * *"}, "INVALID_REQUEST"},
		{"minute out of range", map[string]any{"workflow": "echo", "cron": "60 * * * *"}, "INVALID_REQUEST"},
		{"garbage", map[string]any{"workflow": "echo", "cron": "a b c d e"}, "INVALID_REQUEST"},
		{"descriptor", map[string]any{"workflow": "echo", "cron": "@hourly"}, "INVALID_REQUEST"},
		{"tz prefix", map[string]any{"workflow": "echo", "cron": "CRON_TZ=UTC 0 * * * *"}, "INVALID_REQUEST"},
		{"never fires", map[string]any{"workflow": "echo", "cron": "0 0 30 2 *"}, "INVALID_REQUEST"},
		{"unknown tz", map[string]any{"workflow": "echo", "cron": "0 9 * * *", "tz": "Mars/Olympus"}, "INVALID_REQUEST"},
		{"tz with every", map[string]any{"workflow": "echo", "every": "1m", "tz": "UTC"}, "INVALID_REQUEST"},
		{"every not a duration", map[string]any{"workflow": "echo", "every": "5"}, "INVALID_REQUEST"},
		{"every too short", map[string]any{"workflow": "echo", "every": "500ms"}, "INVALID_REQUEST"},
		{"every negative", map[string]any{"workflow": "echo", "every": "-1m"}, "INVALID_REQUEST"},
		{"bad overlap", map[string]any{"workflow": "echo", "every": "1m", "overlap": "queue"}, "INVALID_REQUEST"},
		{"bad catch_up", map[string]any{"workflow": "echo", "every": "1m", "catch_up": "all"}, "INVALID_REQUEST"},
		{"parameters not an object", map[string]any{"workflow": "echo", "every": "1m", "parameters": []int{1}}, "INVALID_REQUEST"},
		{"parameters invalid", map[string]any{"workflow": "nap", "every": "1m", "parameters": map[string]any{"seconds": "x"}}, "INVALID_REQUEST"},
		{"cron not a string", map[string]any{"workflow": "echo", "cron": 5}, "INVALID_REQUEST"},
		{"no workflow", map[string]any{"every": "1m"}, "INVALID_REQUEST"},
		{"unknown workflow", map[string]any{"workflow": "nope", "every": "1m"}, "WORKFLOW_NOT_FOUND"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) { c.mustFail("schedule.create", tc.req, tc.code) })
	}

	good := []struct {
		name  string
		req   map[string]any
		check func(next time.Time) error
	}{
		{"every", map[string]any{"every": "90s"}, func(next time.Time) error {
			if d := time.Until(next); d <= 0 || d > 90*time.Second {
				return fmt.Errorf("next in %s, want within 90 s", d)
			}
			return nil
		}},
		{"cron UTC", map[string]any{"cron": "30 4 * * *"}, func(next time.Time) error {
			if u := next.UTC(); u.Hour() != 4 || u.Minute() != 30 || time.Until(next) > 24*time.Hour {
				return fmt.Errorf("next %s, want the next 04:30 UTC", u)
			}
			return nil
		}},
		{"cron in a zone", map[string]any{"cron": "0 9 * * 1-5", "tz": "America/New_York"}, func(next time.Time) error {
			ny, _ := time.LoadLocation("America/New_York")
			l := next.In(ny)
			if l.Hour() != 9 || l.Minute() != 0 || l.Weekday() == time.Saturday || l.Weekday() == time.Sunday {
				return fmt.Errorf("next %s, want 09:00 on a weekday in New York", l)
			}
			return nil
		}},
		{"cron with spaces", map[string]any{"cron": "  */15   *  * * * "}, func(next time.Time) error {
			if next.Minute()%15 != 0 || next.Second() != 0 || time.Until(next) > 15*time.Minute {
				return fmt.Errorf("next %s, want the next quarter hour", next)
			}
			return nil
		}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			tc.req["workflow"] = "echo"
			id := createSchedule(t, c, tc.req)
			info := getSchedule(t, c, id)
			if info.NextRunAt == nil {
				t.Fatalf("no next_run_at: %+v", info)
			}
			if err := tc.check(*info.NextRunAt); err != nil {
				t.Fatal(err)
			}
			c.mustOK("schedule.delete", map[string]any{"schedule_id": id})
		})
	}
}

// Overlap policies, with a workflow (nap 2 s) that outlives the interval
// (1 s).

func overlapSchedule(t *testing.T, policy string) (*client, string) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	id := createSchedule(t, c, map[string]any{"workflow": "nap", "parameters": map[string]any{"seconds": 2}, "every": "1s", "overlap": policy})
	t.Cleanup(func() { c.call("cleanup", "schedule.delete", map[string]any{"schedule_id": id}) })
	return c, id
}

func liveCount(execs []schedExec) int {
	n := 0
	for _, e := range execs {
		if e.Status != "completed" && e.Status != "failed" && e.Status != "cancelled" {
			n++
		}
	}
	return n
}

func TestScheduleOverlapSkip(t *testing.T) {
	t.Parallel()
	c, id := overlapSchedule(t, "skip")
	waitFor(t, 10*time.Second, "a firing skipped while the nap runs", func() bool { return getSchedule(t, c, id).Skipped >= 2 })
	waitFor(t, 10*time.Second, "a second nap after the first ended", func() bool { return len(scheduledExecutions(t, c, "nap", id)) >= 2 })
	c.mustOK("schedule.pause", map[string]any{"schedule_id": id})
	execs := scheduledExecutions(t, c, "nap", id)
	for i, e := range execs {
		if e.Status == "cancelled" || e.Status == "failed" {
			t.Errorf("nap %s ended %s", e.ExecutionID, e.Status)
		}
		// Never two at once: each started after the previous one ended.
		if i > 0 {
			prev := execs[i-1]
			if prev.Status != "completed" || e.CreatedAt.Before(prev.UpdatedAt) {
				t.Errorf("nap %s started at %s while %s (%s, ended %s) ran", e.ExecutionID, e.CreatedAt, prev.ExecutionID, prev.Status, prev.UpdatedAt)
			}
		}
	}
}

func TestScheduleOverlapAllow(t *testing.T) {
	t.Parallel()
	c, id := overlapSchedule(t, "allow")
	waitFor(t, 10*time.Second, "two naps of the schedule running at once", func() bool {
		return liveCount(scheduledExecutions(t, c, "nap", id)) >= 2
	})
	if info := getSchedule(t, c, id); info.Skipped != 0 {
		t.Fatalf("allow skipped %d firings", info.Skipped)
	}
}

func TestScheduleOverlapCancelPrevious(t *testing.T) {
	t.Parallel()
	c, id := overlapSchedule(t, "cancel_previous")
	waitFor(t, 10*time.Second, "a nap cancelled by the next firing", func() bool {
		for _, e := range scheduledExecutions(t, c, "nap", id) {
			if e.Status == "cancelled" {
				return true
			}
		}
		return false
	})
	c.mustOK("schedule.pause", map[string]any{"schedule_id": id})
	execs := scheduledExecutions(t, c, "nap", id)
	// Every nap but the newest was cancelled by its successor, never
	// completed (each lives 2 s, the next firing is 1 s later).
	for _, e := range execs[:len(execs)-1] {
		waitFor(t, 10*time.Second, "nap "+e.ExecutionID+" cancelled", func() bool {
			return decode[schedExec](t, c.mustOK("execution.get", map[string]any{"execution_id": e.ExecutionID})).Status == "cancelled"
		})
	}
	if n := liveCount(scheduledExecutions(t, c, "nap", id)); n > 1 {
		t.Fatalf("%d naps of a cancel_previous schedule running at once", n)
	}
}
