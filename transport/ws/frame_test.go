package ws

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
)

func TestDecodeFrame(t *testing.T) {
	long := strings.Repeat("x", 129)
	tests := []struct {
		name    string
		in      string
		want    clientFrame
		wantErr string // substring of the message; code is always INVALID_REQUEST
		wantID  string // id the error answers
	}{
		{name: "request", in: `{"id":"r1","service":"workflow.start","request":{"name":"echo"}}`,
			want: clientFrame{Kind: kindRequest, ID: "r1", Service: "workflow.start", Request: json.RawMessage(`{"name":"echo"}`)}},
		{name: "request with flow", in: `{"id":"r2","service":"execution.get","flow":"exec_1"}`,
			want: clientFrame{Kind: kindRequest, ID: "r2", Service: "execution.get", Flow: "exec_1"}},
		{name: "null flow", in: `{"id":"r2","service":"ping","flow":null}`,
			want: clientFrame{Kind: kindRequest, ID: "r2", Service: "ping"}},
		{name: "auth", in: `{"type":"auth","token":"abc"}`, want: clientFrame{Kind: kindAuth, Token: "abc"}},
		{name: "ping", in: ` {"type":"ping"} `, want: clientFrame{Kind: kindPing}},
		{name: "shorthand", in: `{"name":"echo","parameters":{"a":1},"metadata":{},"connection_id":"ws_1"}`,
			want: clientFrame{Kind: kindShorthand, Service: "workflow.start", Request: json.RawMessage(`{"metadata":{},"name":"echo","parameters":{"a":1}}`)}},
		{name: "empty", in: ``, wantErr: "JSON object"},
		{name: "array", in: `[1,2]`, wantErr: "JSON object"},
		{name: "not json", in: `{oops`, wantErr: "not valid JSON"},
		{name: "unknown type", in: `{"type":"hello"}`, wantErr: "unknown frame type"},
		{name: "type not string", in: `{"type":7}`, wantErr: "type must be a string"},
		{name: "auth without token", in: `{"type":"auth"}`, wantErr: "needs a token"},
		{name: "missing id", in: `{"service":"ping"}`, wantErr: "id must be"},
		{name: "numeric id", in: `{"id":1,"service":"ping"}`, wantErr: "id must be a string"},
		{name: "id too long", in: `{"id":"` + long + `","service":"ping"}`, wantErr: "id must be"},
		{name: "missing service", in: `{"id":"r3"}`, wantErr: "service is required", wantID: "r3"},
		{name: "request not object", in: `{"id":"r4","service":"ping","request":[1]}`, wantErr: "request must be", wantID: "r4"},
		{name: "flow not string", in: `{"id":"r5","service":"ping","flow":{}}`, wantErr: "flow must be", wantID: "r5"},
		{name: "shorthand name not string", in: `{"name":5}`, wantErr: "name must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeFrame([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("decodeFrame(%s) = %+v, want error %q", tc.in, got, tc.wantErr)
				}
				if code := weft.ErrorCode(err); code != weft.CodeInvalidRequest {
					t.Fatalf("code = %s, want INVALID_REQUEST", code)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q, want it to mention %q", err, tc.wantErr)
				}
				var fe *frameError
				if errors.As(err, &fe) && fe.id != tc.wantID {
					t.Fatalf("error answers id %q, want %q", fe.id, tc.wantID)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeFrame: %v", err)
			}
			if got.Kind != tc.want.Kind || got.ID != tc.want.ID || got.Service != tc.want.Service ||
				got.Flow != tc.want.Flow || got.Token != tc.want.Token || !sameJSON(got.Request, tc.want.Request) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func TestEncodeEventIsValidJSON(t *testing.T) {
	e := events.New(events.TaskEnd, events.TaskDetails{StepID: "1", Name: `we"ird`, Attempt: 1})
	e.Data.Seq = 7
	e.Data.ExecutionID = "exec_1"
	for _, complete := range []bool{false, true} {
		raw := encodeEvent(`id"with\quote`, e, complete)
		var f struct {
			ID       string          `json:"id"`
			Type     string          `json:"type"`
			Data     events.Data     `json:"data"`
			Complete *bool           `json:"complete"`
			Extra    json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if f.ID != `id"with\quote` || f.Type != "task_end" || f.Data.Seq != 7 || (f.Complete != nil) != complete {
			t.Fatalf("decoded %+v from %s", f, raw)
		}
	}
}

// FuzzDecodeFrame: any bytes decode to a frame or an INVALID_REQUEST error,
// never a panic, and accepted frames respect the protocol's bounds.
func FuzzDecodeFrame(f *testing.F) {
	for _, seed := range []string{
		`{"id":"r1","service":"workflow.start","request":{"name":"echo","parameters":{}}}`,
		`{"type":"auth","token":"t"}`, `{"type":"ping"}`, `{"name":"echo","parameters":{"a":[1,2]}}`,
		`{"id":"r","service":"execution.subscribe","flow":"exec_1","request":{"after_seq":3}}`,
		`{`, `[]`, `null`, `{"id":null,"service":null}`, "{\"id\":\"\xff\",\"service\":\"x\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeFrame(data)
		if err != nil {
			if code := weft.ErrorCode(err); code != weft.CodeInvalidRequest {
				t.Fatalf("error code %s for %q", code, data)
			}
			return
		}
		switch got.Kind {
		case kindRequest:
			if got.ID == "" || utf8.RuneCountInString(got.ID) > maxRequestID || got.Service == "" {
				t.Fatalf("accepted bad request %+v", got)
			}
		case kindShorthand:
			if got.Service != "workflow.start" || !json.Valid(got.Request) {
				t.Fatalf("bad shorthand %+v", got)
			}
		case kindAuth:
			if got.Token == "" {
				t.Fatal("auth without token")
			}
		case kindPing:
		default:
			t.Fatalf("unknown kind %q", got.Kind)
		}
		if got.Request != nil && !json.Valid(got.Request) {
			t.Fatalf("request payload is not JSON: %q", got.Request)
		}
	})
}

func TestNestingDepthCapped(t *testing.T) {
	deep := func(n int) string {
		return `{"id":"r","service":"ping","request":{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}}`
	}
	for _, tc := range []struct {
		name  string
		frame string
		ok    bool
	}{
		{"shallow", deep(10), true},
		{"at the cap", deep(maxJSONDepth - 2), true}, // the frame and request objects count too
		{"past the cap", deep(maxJSONDepth), false},
		{"brackets in a string do not count", `{"id":"r","service":"ping","request":{"a":"` + strings.Repeat("[", 500) + `"}}`, true},
		{"escaped quote keeps the string open", `{"id":"r","service":"ping","request":{"a":"\"` + strings.Repeat("{", 500) + `"}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeFrame([]byte(tc.frame))
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "nested deeper")) {
				t.Fatalf("got %v, want a nesting error", err)
			}
		})
	}
}
