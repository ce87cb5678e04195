package workflows_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/workflows"
)

type validateAddress struct {
	City string `json:"city" jsonschema:"required,minLength=1"`
	Zip  string `json:"zip,omitempty" jsonschema:"pattern=^[0-9]{5}$"`
}

type validateIn struct {
	Steps   int               `json:"steps" jsonschema:"required,minimum=0,maximum=1000"`
	Ratio   float64           `json:"ratio,omitempty" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1"`
	Mode    string            `json:"mode,omitempty" jsonschema:"enum=fast,enum=slow"`
	Name    string            `json:"name,omitempty" jsonschema:"maxLength=5"`
	Tags    []string          `json:"tags,omitempty" jsonschema:"maxItems=2"`
	Address *validateAddress  `json:"address,omitempty"`
	Items   []validateAddress `json:"items,omitempty"`
	Filters map[string]any    `json:"filters,omitempty"`
	Raw     json.RawMessage   `json:"raw,omitempty"`
	On      bool              `json:"on,omitempty"`
}

func validateRegistry(t testing.TB) *workflows.Registry {
	t.Helper()
	reg := workflows.NewRegistry()
	workflows.Register(reg, "typed", func(_ workflows.Context, in validateIn) (int, error) { return in.Steps, nil })
	workflows.Register(reg, "any-object", func(_ workflows.Context, in json.RawMessage) (int, error) { return len(in), nil })
	workflows.Register(reg, "any-map", func(_ workflows.Context, in map[string]any) (int, error) { return len(in), nil })
	workflows.Register(reg, "no-params", func(_ workflows.Context, _ struct{}) (int, error) { return 0, nil })
	workflows.Register(reg, "on-join", func(_ workflows.Context, in struct {
		Room string `json:"room"`
	}) (string, error) {
		return in.Room, nil
	}, workflows.OnRoomMessage("lobby"))
	return reg
}

// TestValidateParameters checks how a parameters schema violation becomes
// one INVALID_REQUEST: the field path, then what is wrong.
func TestValidateParameters(t *testing.T) {
	reg := validateRegistry(t)
	for _, tc := range []struct {
		name, workflow, params string
		want                   string // "" = valid; else the whole message
	}{
		{"valid", "typed", `{"steps":3}`, ""},
		{"valid_everything", "typed", `{"steps":0,"ratio":0.5,"mode":"slow","name":"ab","tags":["a"],"address":{"city":"Oslo","zip":"12345"},"items":[{"city":"x"}],"filters":{"min_years":5,"x":[1,{"y":null}]},"raw":[1,2],"on":true}`, ""},
		{"empty_is_object", "no-params", ``, ""},
		{"null_is_object", "no-params", `null`, ""},
		{"empty_object", "no-params", `{}`, ""},
		{"typo_refused", "typed", `{"stepz":2}`, "parameters.stepz: unknown field (not in the workflow's parameters_schema)"},
		{"unknown_named_first_sorted", "typed", `{"steps":1,"zz":1,"aa":2}`, "parameters.aa: unknown field (not in the workflow's parameters_schema)"},
		{"missing_required", "typed", `{}`, "parameters.steps: is required"},
		{"missing_required_empty", "typed", ``, "parameters.steps: is required"},
		{"wrong_type", "typed", `{"steps":"many"}`, "parameters.steps: must be an integer, not a string"},
		{"fraction_for_integer", "typed", `{"steps":2.5}`, "parameters.steps: must be an integer, not a number"},
		{"null_for_integer", "typed", `{"steps":null}`, "parameters.steps: must be an integer, not null"},
		{"above_maximum", "typed", `{"steps":200000}`, "parameters.steps: must be <= 1000"},
		{"huge_number", "typed", `{"steps":1e300}`, "parameters.steps: must be <= 1000"},
		{"below_minimum", "typed", `{"steps":-1}`, "parameters.steps: must be >= 0"},
		{"exclusive_minimum", "typed", `{"steps":1,"ratio":0}`, "parameters.ratio: must be > 0"},
		{"exclusive_maximum", "typed", `{"steps":1,"ratio":1}`, "parameters.ratio: must be < 1"},
		{"enum", "typed", `{"steps":1,"mode":"medium"}`, `parameters.mode: must be one of "fast", "slow"`},
		{"max_length", "typed", `{"steps":1,"name":"abcdef"}`, "parameters.name: must be at most 5 characters long"},
		{"max_items", "typed", `{"steps":1,"tags":["a","b","c"]}`, "parameters.tags: must have at most 2 items"},
		{"item_type", "typed", `{"steps":1,"tags":["a",2]}`, "parameters.tags[1]: must be a string, not a number"},
		{"nested_required", "typed", `{"steps":1,"address":{}}`, "parameters.address.city: is required"},
		{"nested_empty", "typed", `{"steps":1,"address":{"city":""}}`, "parameters.address.city: must not be empty"},
		{"nested_pattern", "typed", `{"steps":1,"address":{"city":"x","zip":"12"}}`, "parameters.address.zip: must match the pattern ^[0-9]{5}$"},
		{"nested_unknown", "typed", `{"steps":1,"address":{"city":"x","country":"NO"}}`, "parameters.address.country: unknown field (not in the workflow's parameters_schema)"},
		{"array_of_objects", "typed", `{"steps":1,"items":[{"city":"a"},{"town":"b"}]}`, "parameters.items[1].town: unknown field (not in the workflow's parameters_schema)"},
		{"shallowest_first", "typed", `{"steps":"x","address":{"city":5}}`, "parameters.steps: must be an integer, not a string"},
		{"odd_key_quoted", "typed", `{"steps":1,"a b":1}`, `parameters["a b"]: unknown field (not in the workflow's parameters_schema)`},
		{"not_an_object", "typed", `[1]`, "parameters: must be an object, not an array"},
		{"string_params", "any-object", `"x"`, "parameters: must be an object, not a string"},
		{"not_json", "typed", `{"steps":`, "parameters: not valid JSON"},
		{"trailing_data", "typed", `{"steps":1} {}`, "parameters: not valid JSON"},
		{"decoder_catches_integral_float", "typed", `{"steps":2.0}`, "parameters.steps: cannot hold the number 2.0 (Go type int)"},
		{"huge_exponent", "typed", `{"steps":1,"ratio":1e999999999}`, "parameters.ratio: number out of range"},
		{"huge_negative_exponent", "typed", `{"steps":1,"ratio":-1e-999999999}`, "parameters.ratio: number out of range"},
		{"past_float64", "typed", `{"steps":1e400}`, "parameters.steps: number out of range"},
		{"long_integer", "typed", `{"steps":1` + strings.Repeat("0", 400) + `}`, "parameters.steps: number out of range"},
		{"number_deep_in_any", "any-object", `{"a":[0,{"b":1e999}]}`, "parameters.a[1].b: number out of range"},
		{"deep_path_shortened", "any-object", `{"a":` + strings.Repeat("[", 5000) + "1e999" + strings.Repeat("]", 5000) + `}`,
			"parameters.a" + strings.Repeat("[0]", 29) + "[...]" + strings.Repeat("[0]", 33) + ": number out of range"},
		{"long_key_shortened", "typed", `{"steps":1,"` + strings.Repeat("k", 500) + `":1}`,
			"parameters." + strings.Repeat("k", 89) + "..." + strings.Repeat("k", 100) + ": unknown field (not in the workflow's parameters_schema)"},
		{"tiny_is_fine", "typed", `{"steps":1,"ratio":1e-300}`, ""},
		{"any_object_takes_anything", "any-object", `{"a":{"b":[1,2,{"c":null}]}}`, ""},
		{"any_map_takes_anything", "any-map", `{"min_years":5,"location":"remote"}`, ""},
		{"struct_without_fields", "no-params", `{"x":1}`, "parameters.x: unknown field (not in the workflow's parameters_schema)"},
		{"trigger_bound_takes_extra", "on-join", `{"room":"lobby","from":"ws_1","identity":"alice","message":{"text":"hi"}}`, ""},
		{"trigger_bound_still_typed", "on-join", `{"room":5}`, "parameters.room: must be a string, not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def, ok := reg.Lookup(tc.workflow)
			if !ok {
				t.Fatalf("no workflow %s", tc.workflow)
			}
			err := def.Validate(json.RawMessage(tc.params))
			if len(tc.params) > 200 {
				tc.params = tc.params[:200] + "..."
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate(%s) = %v, want ok", tc.params, err)
				}
				return
			}
			var werr *weft.Error
			if !errors.As(err, &werr) || werr.Code != weft.CodeInvalidRequest {
				t.Fatalf("Validate(%s) = %v, want INVALID_REQUEST", tc.params, err)
			}
			if werr.Message != tc.want {
				t.Errorf("Validate(%s) message\n got %q\nwant %q", tc.params, werr.Message, tc.want)
			}
		})
	}
}

// TestValidateIsDeterministic: several fields wrong at once always name
// the same one (the schema's properties are a map: its order must not
// leak into the message).
func TestValidateIsDeterministic(t *testing.T) {
	def, _ := validateRegistry(t).Lookup("typed")
	params := json.RawMessage(`{"steps":5000,"ratio":7,"mode":"x","name":"toolong","tags":[1,2,3]}`)
	first := def.Validate(params).Error()
	for range 50 {
		if got := def.Validate(params).Error(); got != first {
			t.Fatalf("message changed: %q then %q", first, got)
		}
	}
	if !strings.Contains(first, "parameters.") {
		t.Errorf("message %q names no field", first)
	}
}

// TestParametersSchemaAdvertisesValidation: what workflow.list shows is
// what Validate enforces (required from tags, unknown fields refused).
func TestParametersSchemaAdvertisesValidation(t *testing.T) {
	reg := validateRegistry(t)
	def, _ := reg.Lookup("typed")
	var s struct {
		Required             []string        `json:"required"`
		AdditionalProperties *bool           `json:"additionalProperties"`
		Properties           map[string]any  `json:"properties"`
		Schema               json.RawMessage `json:"$schema"`
	}
	if err := json.Unmarshal(def.ParametersSchema(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Required) != 1 || s.Required[0] != "steps" {
		t.Errorf("required = %v, want [steps]", s.Required)
	}
	if s.AdditionalProperties == nil || *s.AdditionalProperties {
		t.Errorf("additionalProperties = %v, want false", s.AdditionalProperties)
	}
	trig, _ := reg.Lookup("on-join")
	if strings.Contains(string(trig.ParametersSchema()), `"additionalProperties":false`) {
		t.Errorf("a trigger-bound workflow refuses extra fields: %s", trig.ParametersSchema())
	}
}

// A jsonschema tag that does not compile is found at registration.
func TestRegisterBadSchemaPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "bad-pattern") {
			t.Errorf("recover() = %v, want a panic naming the workflow", r)
		}
	}()
	workflows.Register(workflows.NewRegistry(), "bad-pattern", func(_ workflows.Context, in struct {
		S string `json:"s" jsonschema:"pattern=(unclosed"`
	}) (int, error) {
		return 0, nil
	})
}

// FuzzValidate feeds random documents to Validate: it never panics and
// answers either nil or an INVALID_REQUEST naming "parameters".
func FuzzValidate(f *testing.F) {
	for _, seed := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `1`, `{"steps":3}`, `{"stepz":2}`, `{"steps":1e9999999}`,
		`{"steps":-1e-9999999}`, `{"steps":2.0}`, `{"ratio":"NaN"}`, `{"address":{"city":[]}}`,
		`{"items":[{"city":"a"},{"zip":5}]}`, `{"filters":{"a":{"b":{"c":[[[]]]}}}}`, `{"steps":1,"steps":"x"}`,
		`{"tags":[` + strings.Repeat(`"a",`, 100) + `"b"]}`, "{\"name\":\"\xff\"}", `{"steps":1}garbage`, `{"\u0000":1}`,
		`{"ratio":1e999999999}`, `{"ratio":-1e-99999}`, `{"steps":1,"ratio":0.` + strings.Repeat("1", 5000) + `}`,
	} {
		f.Add("typed", seed)
		f.Add("any-object", seed)
	}
	reg := validateRegistry(f)
	f.Fuzz(func(t *testing.T, workflow, params string) {
		def, ok := reg.Lookup(workflow)
		if !ok {
			def, _ = reg.Lookup("typed")
		}
		err := def.Validate(json.RawMessage(params))
		if err == nil {
			return
		}
		var werr *weft.Error
		if !errors.As(err, &werr) || werr.Code != weft.CodeInvalidRequest {
			t.Fatalf("Validate(%q) = %#v, want nil or INVALID_REQUEST", params, err)
		}
		if !strings.HasPrefix(werr.Message, "parameters") {
			t.Fatalf("Validate(%q) message %q does not name the parameters", params, werr.Message)
		}
	})
}
