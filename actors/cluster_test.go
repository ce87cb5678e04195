package actors

import (
	"testing"

	"github.com/weft-run/weft"
)

func TestDecodeControlRequest(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		code     weft.Code // "" : accepted
	}{
		{"cancel", `{"op":"cancel","execution_id":"exec_1","reason":"r"}`, ""},
		{"signal", `{"op":"signal","execution_id":"exec_1","signal":{"name":"approve"}}`, ""},
		{"signal without its signal", `{"op":"signal","execution_id":"exec_1"}`, weft.CodeInvalidRequest},
		{"signal without a name", `{"op":"signal","execution_id":"exec_1","signal":{}}`, weft.CodeInvalidRequest},
		{"no id", `{"op":"cancel"}`, weft.CodeInvalidRequest},
		{"resume", `{"op":"resume","execution_id":"exec_1"}`, ""},
		{"resume without an id", `{"op":"resume"}`, weft.CodeInvalidRequest},
		{"start", `{"op":"start","execution_id":"exec_1","start":{"identity":{"identity":"rita","workspace":"acme"},"request":{"name":"echo","parameters":{}}}}`, ""},
		{"start without its request", `{"op":"start","execution_id":"exec_1"}`, weft.CodeInvalidRequest},
		{"start without a workflow", `{"op":"start","execution_id":"exec_1","start":{"identity":{"workspace":"acme"},"request":{}}}`, weft.CodeInvalidRequest},
		{"start without a workspace", `{"op":"start","execution_id":"exec_1","start":{"identity":{"identity":"rita"},"request":{"name":"echo"}}}`, weft.CodeInvalidRequest},
		{"start with a bad identity", `{"op":"start","execution_id":"exec_1","start":{"identity":"rita","request":{"name":"echo"}}}`, weft.CodeInvalidRequest},
		{"unknown op", `{"op":"delete","execution_id":"exec_1"}`, weft.CodeInvalidRequest},
		{"not JSON", `{op`, weft.CodeInvalidRequest},
		{"empty", ``, weft.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeControlRequest([]byte(tc.in))
			if got := weft.ErrorCode(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
		})
	}
}

func FuzzDecodeControlRequest(f *testing.F) {
	f.Add([]byte(`{"op":"cancel","execution_id":"exec_1"}`))
	f.Add([]byte(`{"op":"signal","execution_id":"e","signal":{"name":"n","payload":{}}}`))
	f.Add([]byte(`{"op":"start","execution_id":"e","start":{"identity":{"workspace":"w","scopes":["admin"]},"request":{"name":"n","parameters":{"a":1}}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeControlRequest(b)
		if err != nil {
			if weft.ErrorCode(err) != weft.CodeInvalidRequest {
				t.Fatalf("error %v is not INVALID_REQUEST", err)
			}
			return
		}
		incompleteStart := req.Op == ControlStart && (req.Start == nil || req.Start.Request.Name == "" || req.Start.Identity.Workspace == "")
		if req.ExecutionID == "" || (req.Op == ControlSignal && (req.Signal == nil || req.Signal.Name == "")) || incompleteStart {
			t.Fatalf("accepted an incomplete request %+v", req)
		}
	})
}
