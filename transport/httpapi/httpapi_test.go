package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
)

// Every protocol code has the status of PROTOCOL.md section 8.
func TestStatus(t *testing.T) {
	for code, want := range map[weft.Code]int{
		weft.CodeInvalidRequest:         400,
		weft.CodeUnauthenticated:        401,
		weft.CodeForbidden:              403,
		weft.CodeUnknownService:         404,
		weft.CodeWorkflowNotFound:       404,
		weft.CodeExecutionNotFound:      404,
		weft.CodeConnectionNotFound:     404,
		weft.Code("SCHEDULE_NOT_FOUND"): 404,
		weft.CodeConflict:               409,
		weft.CodeDuplicateRequestID:     409,
		weft.CodeMessageTooLarge:        413,
		weft.CodeRateLimited:            429,
		weft.CodeUnavailable:            503,
		weft.CodeMaxConnectionsReached:  503,
		weft.CodeConnectionFailed:       502,
		weft.CodeInternal:               500,
		weft.Code("SOMETHING_NEW"):      500,
	} {
		if got := Status(code); got != want {
			t.Errorf("Status(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, weft.Errorf(weft.CodeUnauthenticated, "missing token"))
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") == "" || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %v", rec.Code, rec.Header())
	}
	var body struct{ Error ErrorBody }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error != (ErrorBody{Code: weft.CodeUnauthenticated, Message: "missing token"}) {
		t.Fatalf("body %s", rec.Body)
	}
	// A plain error is INTERNAL and says nothing of its cause.
	rec = httptest.NewRecorder()
	WriteError(rec, errString("disk on fire at /var/lib/weft"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "disk") || !strings.Contains(rec.Body.String(), `"retryable":true`) {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestWantsSSE(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                 false,
		"application/json":                 false,
		"text/event-stream":                true,
		"TEXT/Event-Stream; charset=utf-8": true,
		"application/json, text/event-stream;q=0.9": true,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if got := wantsSSE(r); got != want {
			t.Errorf("wantsSSE(%q) = %v, want %v", accept, got, want)
		}
	}
}

func TestAfterSeq(t *testing.T) {
	for _, tc := range []struct {
		query, lastEventID string
		sse                bool
		want               uint64
		bad                bool
	}{
		{"", "", false, 0, false},
		{"after_seq=7", "", false, 7, false},
		{"after_seq=7", "9", false, 7, false}, // Last-Event-ID is for SSE only
		{"after_seq=7", "9", true, 9, false},
		{"after_seq=-1", "", false, 0, true},
		{"after_seq=x", "", false, 0, true},
		{"", "nine", true, 0, true},
	} {
		r := httptest.NewRequest("GET", "/?"+tc.query, nil)
		if tc.sse {
			r.Header.Set("Accept", "text/event-stream")
		}
		if tc.lastEventID != "" {
			r.Header.Set("Last-Event-ID", tc.lastEventID)
		}
		got, err := afterSeq(r)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%+v: got %d, %v", tc, got, err)
		}
		if err != nil && weft.ErrorCode(err) != weft.CodeInvalidRequest {
			t.Errorf("%+v: error %v, want INVALID_REQUEST", tc, err)
		}
	}
}

func TestSSEEvent(t *testing.T) {
	e := events.Event{Type: events.TaskEnd, Data: events.Data{
		Timestamp: time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC), ExecutionID: "exec_1", Workflow: "w", Seq: 4,
		Details: json.RawMessage(`{"output":"two\nlines"}`),
	}}
	want := "id: 4\nevent: task_end\n" +
		`data: {"timestamp":"2026-01-10T12:00:00Z","execution_id":"exec_1","workflow":"w","seq":4,"details":{"output":"two\nlines"}}` + "\n\n"
	s, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(sseEvent(s)); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestMuxRoutesAndUnknown(t *testing.T) {
	m := NewMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
	m.Handle("GET", "/a/{id}", "svc.a", ok)
	m.Handle("POST", "/a/{id}", "", ok)
	if got := m.Routes(); len(got) != 2 || got[0] != (Route{"GET", "/a/{id}", "svc.a"}) || got[1].String() != "POST /a/{id}" {
		t.Fatalf("routes %v", got)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		message      string
	}{
		{"GET", "/a/1", 299, ""},
		{"HEAD", "/a/1", 299, ""},
		{"DELETE", "/a/1", 404, "no route DELETE /a/1 (this path takes GET, POST)"},
		{"GET", "/b", 404, "no route GET /b"},
	} {
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.status)
			continue
		}
		if tc.message != "" {
			var body struct{ Error ErrorBody }
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if body.Error.Code != weft.CodeUnknownService || body.Error.Message != tc.message {
				t.Errorf("%s %s: %s", tc.method, tc.path, rec.Body)
			}
		}
	}
}
