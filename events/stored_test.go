package events_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/weft-run/weft/events"
)

func sample(t events.Type, seq uint64, details any) events.Event {
	e := events.New(t, details)
	e.Data.Seq, e.Data.ExecutionID, e.Data.Workflow = seq, "exec_1", "wf"
	e.Data.Timestamp = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	return e
}

func TestEncodeThenParseKeepsTheBytes(t *testing.T) {
	for _, e := range []events.Event{
		sample(events.ExecutionStarted, 1, events.ExecutionStartedDetails{Parameters: json.RawMessage(`{"q":"x"}`)}),
		sample(events.LLMDelta, 2, events.LLMDetails{StepID: "1", Text: "héllo \"quoted\" <tag>"}),
		sample(events.ExecutionCompleted, 3, events.ExecutionEndDetails{Result: json.RawMessage(`[1,2]`)}),
	} {
		s, err := events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		p, err := events.ParseStored(e.Seq(), s.JSON)
		if err != nil {
			t.Fatal(err)
		}
		if p.Type != e.Type || p.Seq != e.Seq() || !bytes.Equal(p.JSON, s.JSON) {
			t.Errorf("parsed %s seq %d, want %s seq %d, same bytes", p.Type, p.Seq, e.Type, e.Seq())
		}
		back, err := p.Decode()
		if err != nil || back.Type != e.Type || !bytes.Equal(back.Data.Details, e.Data.Details) {
			t.Errorf("decode: %v %+v", err, back)
		}
	}
}

func TestCanonical(t *testing.T) {
	canonical, _ := events.Encode(sample(events.TaskEnd, 4, events.TaskDetails{StepID: "1", Name: "a"}))
	for _, tc := range []struct {
		name string
		seq  uint64
		raw  string
		want events.Type // "" means an error
	}{
		{"canonical", 4, string(canonical.JSON), events.TaskEnd},
		{"fields swapped", 4, `{"data":{"seq":4,"execution_id":"e"},"type":"task_end"}`, events.TaskEnd},
		{"whitespace", 4, `{ "type": "task_end", "data": {"seq":4} }`, events.TaskEnd},
		{"escaped type", 4, `{"type":"task\u005fend","data":{"seq":4}}`, events.TaskEnd},
		{"garbage data, canonical layout", 4, `{"type":"task_end","data":garbage}`, ""},
		{"seq differs from key", 5, `{"type":"task_end","data":{"seq":4}}`, ""},
		{"not json", 4, `{"type":"task_end","data":`, ""},
		{"empty", 4, ``, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := events.Canonical(tc.seq, []byte(tc.raw))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("parsed %q, want an error", tc.raw)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Type != tc.want || !bytes.HasPrefix(s.JSON, []byte(`{"type":"`+string(tc.want)+`","data":`)) {
				t.Errorf("got %s %s, want canonical %s", s.Type, s.JSON, tc.want)
			}
		})
	}
}

// frame is what a client decodes from an event frame.
type frame struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	Complete bool            `json:"complete"`
}

func checkFrame(t *testing.T, s events.Stored, id string, complete bool) {
	t.Helper()
	raw := s.FrameInto(nil, id, complete)
	var f frame
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("frame %q is not JSON: %v", raw, err)
	}
	var want events.Event
	if err := json.Unmarshal(s.JSON, &want); err != nil {
		t.Fatal(err)
	}
	wantData, _ := json.Marshal(want.Data)
	if f.ID != id || f.Type != string(want.Type) || f.Complete != complete || !jsonEqual(f.Data, wantData) {
		t.Errorf("frame %s: got id %q type %q complete %v data %s", raw, f.ID, f.Type, f.Complete, f.Data)
	}
	if !bytes.Equal(s.DataJSON(), f.Data) {
		t.Errorf("DataJSON %s, frame data %s", s.DataJSON(), f.Data)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ra, _ := json.Marshal(x)
	rb, _ := json.Marshal(y)
	return bytes.Equal(ra, rb)
}

func TestFrameInto(t *testing.T) {
	s, _ := events.Encode(sample(events.ToolEnd, 7, events.ToolDetails{StepID: "2", Tool: "search", Output: json.RawMessage(`{"n":1}`)}))
	for _, id := range []string{"r1", "", `id"with\quote`, "ünï\u2028<&>", "\x00\x1f"} {
		checkFrame(t, s, id, false)
		checkFrame(t, s, id, true)
	}
}

func FuzzFrameInto(f *testing.F) {
	f.Add("r1", "hello", true)
	f.Add(`a"b\c`, "\x00\xff", false)
	f.Fuzz(func(t *testing.T, id, text string, complete bool) {
		s, err := events.Encode(sample(events.LLMDelta, 9, events.LLMDetails{StepID: "1", Text: text}))
		if err != nil {
			t.Fatal(err)
		}
		p, err := events.ParseStored(9, s.JSON)
		if err != nil || !bytes.Equal(p.JSON, s.JSON) {
			t.Fatalf("canonical bytes did not parse as themselves: %v", err)
		}
		if !jsonValidString(id) {
			return // json.Unmarshal would not give back an invalid UTF-8 id either
		}
		checkFrame(t, s, id, complete)
	})
}

func jsonValidString(s string) bool {
	raw, _ := json.Marshal(s)
	var back string
	return json.Unmarshal(raw, &back) == nil && back == s
}

// FuzzCanonical: what an import accepts is canonical and frames as JSON.
func FuzzCanonical(f *testing.F) {
	f.Add(uint64(1), []byte(`{"type":"task_end","data":{"seq":1}}`))
	f.Add(uint64(2), []byte(`{"data":{"seq":2},"type":"x"}`))
	f.Add(uint64(3), []byte(`{"type":"x","data":garbage}`))
	f.Fuzz(func(t *testing.T, seq uint64, raw []byte) {
		s, err := events.Canonical(seq, raw)
		if err != nil {
			return
		}
		// Whatever was accepted is canonical and frames as valid JSON.
		again, err := events.ParseStored(seq, s.JSON)
		if err != nil || !bytes.Equal(again.JSON, s.JSON) || again.Type != s.Type {
			t.Fatalf("ParseStored(%q) = %q, not canonical: %v", raw, s.JSON, err)
		}
		if fr := s.FrameInto(nil, "r", true); !json.Valid(fr) {
			t.Fatalf("frame of %q is not JSON: %q", raw, fr)
		}
	})
}

// FuzzEncodeMatchesMarshal: Encode's hand-written bytes are json.Marshal's.
func FuzzEncodeMatchesMarshal(f *testing.F) {
	f.Add("task_end", "exec_1", "wf", uint64(3), []byte(`{"a":"b"}`), false, int64(0))
	f.Add("llm_delta", "é<>&\u2028", "w\"f", uint64(1<<40), []byte(`{"text":"héllo \u2028"}`), true, int64(1e18))
	f.Add("x", "", "", uint64(0), []byte(` {"a": 1}`), false, int64(-1))
	f.Add("x", "", "", uint64(0), []byte(`"s`), false, int64(5))
	f.Fuzz(func(t *testing.T, typ, id, wf string, seq uint64, details []byte, replay bool, nanos int64) {
		if !json.Valid(details) && len(details) > 0 {
			return // Details are JSON by contract (events.New)
		}
		e := events.Event{Type: events.Type(typ), Data: events.Data{
			Timestamp: time.Unix(0, nanos).UTC(), ExecutionID: id, Workflow: wf, Seq: seq,
			Details: details, Replay: replay,
		}}
		want, wantErr := json.Marshal(e)
		got, err := events.Encode(e)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("Encode error %v, json.Marshal error %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got.JSON, want) {
			t.Fatalf("Encode  %s\nMarshal %s", got.JSON, want)
		}
	})
}
