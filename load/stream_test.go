package load

import (
	"testing"
	"time"
)

func TestParseStreamFrame(t *testing.T) {
	ts := "2026-12-04T19:00:00.123456789Z"
	want, _ := time.Parse(time.RFC3339Nano, ts)
	for _, tc := range []struct {
		name, raw       string
		delta, complete bool
		err             bool
	}{
		{"delta", `{"id":"stream","type":"llm_delta","data":{"timestamp":"` + ts + `","seq":3}}`, true, false, false},
		{"other layout", `{"type":"llm_delta","id":"stream","data":{"seq":3,"timestamp":"` + ts + `"}}`, true, false, false},
		{"terminal", `{"id":"stream","type":"execution_completed","data":{"timestamp":"` + ts + `"},"complete":true}`, false, true, false},
		{"response", `{"id":"stream","response":{"execution_id":"e"},"complete":false}`, false, false, false},
		{"error", `{"id":"stream","error":{"code":"RATE_LIMITED","message":"slow down"}}`, false, false, true},
		{"garbage", `{"id":`, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseStreamFrame([]byte(tc.raw))
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if f.delta != tc.delta || f.complete != tc.complete {
				t.Errorf("got %+v", f)
			}
			if tc.delta && !f.timestamp.Equal(want) {
				t.Errorf("timestamp %v, want %v", f.timestamp, want)
			}
		})
	}
}
