package actors

import (
	"encoding/json"
	"testing"
)

// The traceparent of a start's metadata is untrusted input: only a valid
// W3C traceparent, as a JSON string, continues a trace.
func TestTraceContextFromMetadata(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	cases := []struct {
		name     string
		metadata string
		want     string // trace id, "" for none
	}{
		{"valid", `{"traceparent":"` + valid + `"}`, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"with tracestate", `{"traceparent":"` + valid + `","tracestate":"a=1,b=2"}`, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"absent", `{"user":"ann"}`, ""},
		{"no metadata", ``, ""},
		{"null", `null`, ""},
		{"not an object", `[1,2]`, ""},
		{"not a string", `{"traceparent":42}`, ""},
		{"zero trace id", `{"traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}`, ""},
		{"bad version", `{"traceparent":"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`, ""},
		{"too short", `{"traceparent":"00-4bf92f35-00f067aa0ba902b7-01"}`, ""},
		{"upper case", `{"traceparent":"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := traceContextFromMetadata(json.RawMessage(tc.metadata))
			got := ""
			if sc.IsValid() {
				got = sc.TraceID().String()
			}
			if got != tc.want {
				t.Fatalf("trace id = %q, want %q", got, tc.want)
			}
			if sc.IsValid() && !sc.IsRemote() {
				t.Fatal("an extracted context must be remote")
			}
		})
	}
}

func FuzzTraceContextFromMetadata(f *testing.F) {
	f.Add([]byte(`{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"a=1"}`))
	f.Add([]byte(`{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"}`))
	f.Add([]byte(`{"tracestate":"` + string(make([]byte, 600)) + `"}`))
	f.Add([]byte(`{"traceparent":{"nested":[1,2,3]}}`))
	f.Fuzz(func(t *testing.T, metadata []byte) {
		sc := traceContextFromMetadata(metadata)
		if sc.IsValid() && (!sc.TraceID().IsValid() || !sc.SpanID().IsValid()) {
			t.Fatalf("valid context with zero ids from %q", metadata)
		}
	})
}
