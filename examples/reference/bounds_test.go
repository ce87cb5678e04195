package reference

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/workflows"
)

// TestSchemaBoundsMatchTheCode: each bound a reference workflow checks
// when it runs is the one its parameters schema advertises (and Validate
// enforces).
func TestSchemaBoundsMatchTheCode(t *testing.T) {
	reg := workflows.NewRegistry()
	Register(reg)
	for _, tc := range []struct {
		workflow, field string
		min, max        float64
		required        bool
	}{
		{"countdown", "steps", 0, MaxCountdownSteps, true},
		{"countdown", "delay_ms", 0, MaxCountdownDelayMS, false},
		{"fanout", "n", 0, MaxFanoutN, true},
		{"nap", "seconds", 0, MaxNapSeconds, true},
		{"stream", "chunks", 1, MaxStreamChunks, true},
		{"stream", "chunk_bytes", 0, MaxStreamChunkBytes, false},
		{"approval", "delay_ms", 0, MaxApprovalDelayMS, false},
		{"approval", "timeout_ms", 0, MaxApprovalTimeoutMS, false},
		{"flaky", "fail_times", 0, MaxFlakyFailTimes, true},
	} {
		def, ok := reg.Lookup(tc.workflow)
		if !ok {
			t.Fatalf("%s is not registered", tc.workflow)
		}
		var s struct {
			Properties map[string]struct {
				Minimum *float64 `json:"minimum"`
				Maximum *float64 `json:"maximum"`
			} `json:"properties"`
			Required             []string `json:"required"`
			AdditionalProperties *bool    `json:"additionalProperties"`
		}
		if err := json.Unmarshal(def.ParametersSchema(), &s); err != nil {
			t.Fatal(err)
		}
		p, ok := s.Properties[tc.field]
		if !ok || p.Minimum == nil || p.Maximum == nil || *p.Minimum != tc.min || *p.Maximum != tc.max {
			t.Errorf("%s.%s: schema bounds %v..%v, want %v..%v", tc.workflow, tc.field, p.Minimum, p.Maximum, tc.min, tc.max)
		}
		if got := slices.Contains(s.Required, tc.field); got != tc.required {
			t.Errorf("%s.%s: required = %v, want %v", tc.workflow, tc.field, got, tc.required)
		}
		if s.AdditionalProperties == nil || *s.AdditionalProperties {
			t.Errorf("%s: unknown fields are not refused", tc.workflow)
		}
		// Just inside passes, just outside is refused naming the field.
		for _, v := range []struct {
			value float64
			ok    bool
		}{{tc.min, true}, {tc.max, true}, {tc.min - 1, false}, {tc.max + 1, false}} {
			params := map[string]any{tc.field: v.value}
			for _, req := range []string{"steps", "n", "seconds", "chunks", "fail_times"} {
				if req != tc.field && slices.Contains(s.Required, req) {
					params[req] = 1
				}
			}
			raw, _ := json.Marshal(params)
			err := def.Validate(raw)
			if (err == nil) != v.ok {
				t.Errorf("%s %s: err = %v, want ok=%v", tc.workflow, raw, err, v.ok)
			}
			var werr *weft.Error
			if err != nil && (!errors.As(err, &werr) || werr.Code != weft.CodeInvalidRequest || !strings.HasPrefix(werr.Message, "parameters."+tc.field+":")) {
				t.Errorf("%s %s: err = %v, want INVALID_REQUEST naming %s", tc.workflow, raw, err, tc.field)
			}
		}
	}
}

// TestIssueExamples are the inputs issue 16 lists, refused at the door.
func TestIssueExamples(t *testing.T) {
	reg := workflows.NewRegistry()
	Register(reg)
	for _, tc := range []struct{ workflow, params, want string }{
		{"countdown", `{"stepz":2}`, "parameters.stepz: unknown field"},
		{"countdown", `{"steps":200000}`, "parameters.steps: must be <= 10000"},
		{"fanout", `{"n":1e7}`, "parameters.n: must be <= 1000"},
		{"nap", `{"seconds":1e12}`, "parameters.seconds: must be <= 31536000"},
		{"search-candidates", `{"user_query":"go","filters":{"min_years":5}}`, ""},
		{"search-candidates", `{"user_query":"go","filters":{"location":"London","min_years":5,"remote":true,"skills":["go"]}}`, ""},
		{"search-candidates", `{"user_query":"go","filters":"London"}`, "parameters.filters: must be an object, not a string"},
		{"stream", `{"chunks":100000,"chunk_bytes":0}`, ""},
		{"echo", `{"anything":[1,{"a":null}]}`, ""},
	} {
		def, _ := reg.Lookup(tc.workflow)
		err := def.Validate(json.RawMessage(tc.params))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %s: %v, want ok", tc.workflow, tc.params, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "INVALID_REQUEST: "+tc.want)):
			t.Errorf("%s %s: %v, want INVALID_REQUEST %q", tc.workflow, tc.params, err, tc.want)
		}
	}
}

// TestNapDuration: seconds that a Duration cannot hold are refused, never
// wrapped to a negative Duration (an immediate wake).
func TestNapDuration(t *testing.T) {
	for _, tc := range []struct {
		seconds float64
		want    time.Duration
		ok      bool
	}{
		{0, 0, true},
		{1.5, 1500 * time.Millisecond, true},
		{MaxNapSeconds, MaxNapSeconds * time.Second, true},
		{MaxNapSeconds + 1, 0, false},
		{1e12, 0, false},
		{-1, 0, false},
		{math.NaN(), 0, false},
		{math.Inf(1), 0, false},
		{math.MaxFloat64, 0, false},
	} {
		got, err := napDuration(tc.seconds)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("napDuration(%v) = %v, %v; want %v, ok=%v", tc.seconds, got, err, tc.want, tc.ok)
		}
	}
}

// TestSearchFiltersTakeAnyJSON: filters of any type are accepted; location
// filters the pool, other keys are ignored.
func TestSearchFiltersTakeAnyJSON(t *testing.T) {
	all := candidatePool("org", nil)
	london := candidatePool("org", map[string]any{"location": "london", "min_years": 5.0, "remote": true})
	if len(london) != 2 || len(all) != 5 {
		t.Errorf("pool: %d with location london, %d without; want 2 and 5", len(london), len(all))
	}
	if got := candidatePool("org", map[string]any{"location": 5.0}); len(got) != 5 {
		t.Errorf("a non-string location filtered the pool to %d", len(got))
	}
}
