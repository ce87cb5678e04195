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
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeControlRequest(b)
		if err != nil {
			if weft.ErrorCode(err) != weft.CodeInvalidRequest {
				t.Fatalf("error %v is not INVALID_REQUEST", err)
			}
			return
		}
		if req.ExecutionID == "" || (req.Op == ControlSignal && (req.Signal == nil || req.Signal.Name == "")) {
			t.Fatalf("accepted an incomplete request %+v", req)
		}
	})
}
