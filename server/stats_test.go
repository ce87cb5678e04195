package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// workflowStats is the answer of workflow.stats.
type workflowStats struct {
	Workflow      string  `json:"workflow"`
	Period        string  `json:"period"`
	Runs          int     `json:"runs"`
	Completed     int     `json:"completed"`
	Failed        int     `json:"failed"`
	Cancelled     int     `json:"cancelled"`
	SuccessRate   float64 `json:"success_rate"`
	AvgDurationMS float64 `json:"avg_duration_ms"`
	P95DurationMS float64 `json:"p95_duration_ms"`
	ErrorsPerDay  float64 `json:"errors_per_day"`
	Health        string  `json:"health"`
}

// statsOverSocket calls workflow.stats and fails the test on an error.
func statsOverSocket(t *testing.T, c *client, req map[string]any) workflowStats {
	t.Helper()
	f := c.call("stats", "workflow.stats", req)
	if f.Error != nil || !f.Complete {
		t.Fatalf("workflow.stats %v: %+v (complete %v)", req, f.Error, f.Complete)
	}
	return decode[workflowStats](t, f.Response)
}

func statsOverHTTP(t *testing.T, ts *testServer, token, path string) workflowStats {
	t.Helper()
	r := httpDo(t, ts, "GET", path, token, nil)
	r.expectStatus(t, http.StatusOK)
	return decode[workflowStats](t, r.body)
}

// TestWorkflowStatsOnBothSurfaces runs reference workflows that complete,
// fail and get cancelled, then reads their stats over the socket and over
// HTTP: the same counts, rates and health on both, per workspace, and
// kept when an execution is deleted.
func TestWorkflowStatsOnBothSurfaces(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	run := func(id, name string, params map[string]any) string {
		t.Helper()
		frames := startAndCollect(t, c, id, name, params)
		last := frames[len(frames)-1]
		if last.Error != nil {
			t.Fatalf("%s: %+v", name, last.Error)
		}
		return last.event(t).ExecutionID
	}
	for _, id := range []string{"ok1", "ok2", "ok3"} {
		run(id, "flaky", map[string]any{"fail_times": 0})
	}
	failed := run("bad", "flaky", map[string]any{"fail_times": 50})

	// approval waits for a signal: cancel it while it waits.
	c.request("wait", "workflow.start", map[string]any{"name": "approval", "parameters": map[string]any{}})
	var waiting string
	for waiting == "" {
		if f := c.read(); f.ID == "wait" && f.Type == "signal_waiting" {
			waiting = f.event(t).ExecutionID
		}
	}
	if f := c.call("cancel", "execution.cancel", map[string]any{"execution_id": waiting}); f.Error != nil {
		t.Fatalf("cancel: %+v", f.Error)
	}
	if frames := c.readUntilComplete("wait"); frames[len(frames)-1].Type != "execution_cancelled" {
		t.Fatalf("approval ended with %s", eventTypes(frames))
	}

	flaky := workflowStats{Workflow: "flaky", Period: "day", Runs: 4, Completed: 3, Failed: 1,
		SuccessRate: 0.75, ErrorsPerDay: 1, Health: "error"}
	approval := workflowStats{Workflow: "approval", Period: "day", Runs: 1, Cancelled: 1,
		SuccessRate: 0, ErrorsPerDay: 0, Health: "error"}
	check := func(where string, got, want workflowStats) {
		t.Helper()
		durations := got.AvgDurationMS > 0 && got.P95DurationMS > 0
		got.AvgDurationMS, got.P95DurationMS = 0, 0
		if got != want || !durations {
			t.Errorf("%s = %+v (durations set: %v)\nwant %+v", where, got, durations, want)
		}
	}
	check("socket flaky", statsOverSocket(t, c, map[string]any{"name": "flaky"}), flaky)
	check("http flaky", statsOverHTTP(t, ts, adminToken, "/api/v1/workflows/flaky/stats"), flaky)
	check("socket approval", statsOverSocket(t, c, map[string]any{"name": "approval", "period": "day"}), approval)
	check("http approval", statsOverHTTP(t, ts, adminToken, "/api/v1/workflows/approval/stats?period=day"), approval)

	hourly := flaky
	hourly.Period, hourly.ErrorsPerDay = "hour", 24
	check("socket flaky hour", statsOverSocket(t, c, map[string]any{"name": "flaky", "period": "hour"}), hourly)
	weekly := flaky
	weekly.Period, weekly.ErrorsPerDay = "week", 1.0/7
	check("http flaky week", statsOverHTTP(t, ts, adminToken, "/api/v1/workflows/flaky/stats?period=week"), weekly)

	// Another workspace sees none of acme's executions.
	other := statsOverHTTP(t, ts, otherToken, "/api/v1/workflows/flaky/stats")
	if other.Runs != 0 || other.Health != "ok" || other.SuccessRate != 1 || other.AvgDurationMS != 0 {
		t.Errorf("globex sees %+v, want no runs, health ok", other)
	}
	if got := statsOverSocket(t, dial(t, ts, otherToken), map[string]any{"name": "approval"}); got.Runs != 0 {
		t.Errorf("globex sees %d approval runs over the socket", got.Runs)
	}

	// A deleted execution still counts: stats are what ended.
	if f := c.call("del", "execution.delete", map[string]any{"execution_id": failed}); f.Error != nil {
		t.Fatalf("delete: %+v", f.Error)
	}
	check("after the delete", statsOverSocket(t, c, map[string]any{"name": "flaky"}), flaky)
}

// TestWorkflowStatsRefusals: an unknown workflow is WORKFLOW_NOT_FOUND
// (404), a bad period or a missing name INVALID_REQUEST (400), a token
// without workflows:read FORBIDDEN (403), on both surfaces.
func TestWorkflowStatsRefusals(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	reader := dial(t, ts, readerToken)
	for _, tc := range []struct {
		name   string
		c      *client
		req    map[string]any
		token  string
		path   string
		code   string
		status int
	}{
		{"unknown workflow", c, map[string]any{"name": "nope"}, adminToken, "/api/v1/workflows/nope/stats", "WORKFLOW_NOT_FOUND", 404},
		{"bad period", c, map[string]any{"name": "echo", "period": "month"}, adminToken, "/api/v1/workflows/echo/stats?period=month", "INVALID_REQUEST", 400},
		{"period in capitals", c, map[string]any{"name": "echo", "period": "Day"}, adminToken, "/api/v1/workflows/echo/stats?period=Day", "INVALID_REQUEST", 400},
		{"no scope", reader, map[string]any{"name": "echo"}, readerToken, "/api/v1/workflows/echo/stats", "FORBIDDEN", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.c.call("s", "workflow.stats", tc.req)
			if f.Error == nil || f.Error.Code != tc.code {
				t.Errorf("socket: %+v %s, want %s", f.Error, f.Response, tc.code)
			}
			r := httpDo(t, ts, "GET", tc.path, tc.token, nil)
			r.expectStatus(t, tc.status)
			if body := decode[httpErrorBody](t, r.body); body.Error == nil || body.Error.Code != tc.code {
				t.Errorf("http: %s, want %s", r.body, tc.code)
			}
		})
	}
	for _, req := range []any{map[string]any{}, map[string]any{"name": 7}, "not an object"} {
		if f := c.call("s", "workflow.stats", req); f.Error == nil || f.Error.Code != "INVALID_REQUEST" {
			raw, _ := json.Marshal(req)
			t.Errorf("request %s: %+v, want INVALID_REQUEST", raw, f.Error)
		}
	}
	// A registered workflow that never ran has stats: all zeros, ok.
	if got := statsOverSocket(t, c, map[string]any{"name": "echo", "period": "week"}); got.Runs != 0 || got.Health != "ok" || got.Period != "week" {
		t.Errorf("echo, never run: %+v", got)
	}
}

// cancelApproval starts an acme approval and cancels it, so that acme has
// an ended approval for the scope walk's workflow.stats cases.
func (fx *scopeFixture) cancelApproval() {
	id := fx.fresh()
	httpDo(fx.t, fx.ts, "POST", "/api/v1/executions/"+id+"/cancel", adminToken, nil).expectStatus(fx.t, http.StatusOK)
	httpWaitStatus(fx.t, fx.ts, adminToken, id, "cancelled")
}

// checkAcmeStats: acme has cancelled approvals (and signalled ones may
// have completed).
func checkAcmeStats(t *testing.T, raw json.RawMessage) {
	t.Helper()
	st := decode[workflowStats](t, raw)
	if st.Workflow != "approval" || st.Cancelled == 0 || st.Runs != st.Completed+st.Failed+st.Cancelled || st.Health != "error" {
		t.Fatalf("acme's approval stats %s, want cancelled runs", raw)
	}
}

// checkNoStats: another workspace sees none of acme's runs.
func checkNoStats(t *testing.T, raw json.RawMessage) {
	t.Helper()
	if st := decode[workflowStats](t, raw); st.Runs != 0 || st.Health != "ok" {
		t.Fatalf("another workspace sees acme's approvals: %s", raw)
	}
}
