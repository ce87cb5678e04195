package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Issue 16: parameters are validated at the door against the advertised
// parameters_schema, the same way over the socket, over HTTP and by
// schedule.create; a refusal is INVALID_REQUEST naming the field, and
// nothing is stored.

type badParams struct {
	name     string
	workflow string
	params   string // JSON object
	field    string // the message starts "parameters.<field>:"
}

var badParamsCases = []badParams{
	{"typo", "countdown", `{"stepz":2}`, "stepz"},
	{"missing_required", "countdown", `{"delay_ms":1}`, "steps"},
	{"wrong_type", "countdown", `{"steps":"many"}`, "steps"},
	{"fraction", "countdown", `{"steps":2.5}`, "steps"},
	{"over_maximum", "countdown", `{"steps":200000}`, "steps"},
	{"negative", "countdown", `{"steps":-1}`, "steps"},
	{"delay_over_maximum", "countdown", `{"steps":1,"delay_ms":86400000}`, "delay_ms"},
	{"fanout_too_wide", "fanout", `{"n":1e7}`, "n"},
	{"nap_overflows_duration", "nap", `{"seconds":1e12}`, "seconds"},
	{"nap_negative", "nap", `{"seconds":-0.5}`, "seconds"},
	{"nap_number_out_of_range", "nap", `{"seconds":1e999999999}`, "seconds"},
	{"stream_too_many_chunks", "stream", `{"chunks":100001}`, "chunks"},
	{"stream_zero_chunks", "stream", `{"chunks":0}`, "chunks"},
	{"flaky_over_maximum", "flaky", `{"fail_times":101}`, "fail_times"},
	{"approval_timeout_too_long", "approval", `{"timeout_ms":1e15}`, "timeout_ms"},
	{"search_empty_query", "search-candidates", `{"user_query":""}`, "user_query"},
	{"search_filters_not_object", "search-candidates", `{"user_query":"go","filters":["remote"]}`, "filters"},
	{"search_unknown_field", "search-candidates", `{"user_query":"go","filter":{}}`, "filter"},
}

// goodParams are accepted everywhere (the filters example among
// them); each starts one execution per path.
var goodParams = []struct{ workflow, params string }{
	{"search-candidates", `{"user_query":"senior go engineer","organization_id":"org_1","filters":{"min_years":5,"location":"London","remote":true}}`},
	{"countdown", `{"steps":1}`},
	{"stream", `{"chunks":3,"chunk_bytes":0}`},
}

func expectInvalidParams(t *testing.T, how, code, message, field string) {
	t.Helper()
	if code != "INVALID_REQUEST" {
		t.Errorf("%s: code %q (%s), want INVALID_REQUEST", how, code, message)
		return
	}
	if !strings.HasPrefix(message, "parameters."+field+":") {
		t.Errorf("%s: message %q does not start with parameters.%s:", how, message, field)
	}
}

func TestStartValidatesParametersEverywhere(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)

	for _, tc := range badParamsCases {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, conn: c.conn}
			params := json.RawMessage(tc.params)
			// Over the socket, subscribing (the default) or not.
			for _, subscribe := range []bool{true, false} {
				f := c.call("s-"+tc.name, "workflow.start", map[string]any{"name": tc.workflow, "parameters": params, "subscribe": subscribe})
				if f.Error == nil {
					t.Fatalf("socket start %s %s (subscribe %v) answered %s", tc.workflow, tc.params, subscribe, f.Response)
				}
				expectInvalidParams(t, fmt.Sprintf("socket start (subscribe %v)", subscribe), f.Error.Code, f.Error.Message, tc.field)
			}
			// Over HTTP.
			r := httpDo(t, ts, "POST", "/api/v1/workflows/"+tc.workflow+"/executions", adminToken, map[string]any{"parameters": params})
			if r.status != http.StatusBadRequest {
				t.Errorf("HTTP start: status %d (%s), want 400", r.status, r.body)
			}
			var body httpErrorBody
			if err := json.Unmarshal(r.body, &body); err != nil || body.Error == nil {
				t.Fatalf("HTTP start: body %s", r.body)
			}
			expectInvalidParams(t, "HTTP start", body.Error.Code, body.Error.Message, tc.field)
			// As a schedule.
			f := c.call("sc-"+tc.name, "schedule.create", map[string]any{"workflow": tc.workflow, "parameters": params, "every": "1h"})
			if f.Error == nil {
				t.Fatalf("schedule.create %s %s answered %s", tc.workflow, tc.params, f.Response)
			}
			expectInvalidParams(t, "schedule.create", f.Error.Code, f.Error.Message, tc.field)
		})
	}

	// The connection is still usable, and nothing was stored: no
	// execution, no schedule.
	if ids := badListExecutions(t, c, "list-after-bad"); len(ids) != 0 {
		t.Fatalf("bad parameters stored executions %v", ids)
	}
	schedules := func() int {
		return len(decode[struct {
			Schedules []json.RawMessage `json:"schedules"`
		}](t, c.mustOK("schedule.list", nil)).Schedules)
	}
	if n := schedules(); n != 0 {
		t.Fatalf("bad parameters stored %d schedules", n)
	}

	// Good parameters pass every path.
	var started []string
	for i, g := range goodParams {
		params := json.RawMessage(g.params)
		started = append(started, badStartNoSubscribe(t, c, fmt.Sprintf("good-%d", i), g.workflow, params))
		started = append(started, httpStart(t, ts, adminToken, g.workflow, params))
		createSchedule(t, c, map[string]any{"workflow": g.workflow, "parameters": params, "every": "1h"})
	}
	got := badListExecutions(t, c, "list-after-good")
	slices.Sort(got)
	slices.Sort(started)
	if !slices.Equal(got, started) {
		t.Fatalf("executions %v, want exactly the good starts %v", got, started)
	}
	if n := schedules(); n != len(goodParams) {
		t.Fatalf("%d schedules, want %d", n, len(goodParams))
	}
	// The filters example runs to completion.
	snap := httpWaitStatus(t, ts, adminToken, started[0], "completed")
	if snap.Status != "completed" {
		t.Fatalf("search-candidates with filters: %+v", snap)
	}
}

// TestShorthandStartValidatesParameters: the AGNT5 shorthand goes through
// the same door.
func TestShorthandStartValidatesParameters(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	c.send(map[string]any{"name": "countdown", "parameters": map[string]any{"stepz": 2}})
	f, raw := badRead(t, c)
	if f.Error == nil {
		t.Fatalf("shorthand with a typo answered %s", raw)
	}
	expectInvalidParams(t, "shorthand", f.Error.Code, f.Error.Message, "stepz")
	if ids := badListExecutions(t, c, "list"); len(ids) != 0 {
		t.Fatalf("stored %v", ids)
	}
}

// TestWorkflowListAdvertisesBounds: what is enforced is what workflow.list
// shows, so clients (and the console) can check before sending.
func TestWorkflowListAdvertisesBounds(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	list := decode[struct {
		Workflows []struct {
			Name   string `json:"name"`
			Schema struct {
				Properties           map[string]json.RawMessage `json:"properties"`
				Required             []string                   `json:"required"`
				AdditionalProperties *bool                      `json:"additionalProperties"`
			} `json:"parameters_schema"`
		} `json:"workflows"`
	}](t, c.mustOK("workflow.list", nil))
	want := map[string]struct {
		field string
		max   float64
	}{
		"countdown": {"steps", 10000},
		"fanout":    {"n", 1000},
		"nap":       {"seconds", 31536000},
		"stream":    {"chunks", 100000},
		"flaky":     {"fail_times", 100},
	}
	seen := 0
	for _, w := range list.Workflows {
		b, ok := want[w.Name]
		if !ok {
			continue
		}
		seen++
		p := decode[struct {
			Maximum *float64 `json:"maximum"`
		}](t, w.Schema.Properties[b.field])
		if p.Maximum == nil || *p.Maximum != b.max || !slices.Contains(w.Schema.Required, b.field) {
			t.Errorf("%s.%s: maximum %v, required %v; want maximum %v, required", w.Name, b.field, p.Maximum, w.Schema.Required, b.max)
		}
		if w.Schema.AdditionalProperties == nil || *w.Schema.AdditionalProperties {
			t.Errorf("%s does not advertise additionalProperties:false", w.Name)
		}
	}
	if seen != len(want) {
		t.Fatalf("workflow.list shows %d of the %d bounded workflows", seen, len(want))
	}
}
