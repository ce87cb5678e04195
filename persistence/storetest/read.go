package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

var readCases = []testCase{
	{"BytesRoundTrip", testBytesRoundTrip},
	{"AfterAndLimit", testAfterAndLimit},
	{"TokenStream", testTokenStream},
}

// mixedEvents is a log with the shapes a store may treat differently:
// llm_delta runs (which bbolt packs), details with characters JSON
// escapes, a replayed event, an event without details.
func mixedEvents(id string, from uint64) []events.Event {
	seq := from
	next := func(typ events.Type, details any) events.Event {
		ev := events.New(typ, details)
		ev.Data.Seq, ev.Data.ExecutionID, ev.Data.Workflow = seq, id, "wf"
		ev.Data.Timestamp = t0.Add(time.Duration(seq) * time.Microsecond)
		seq++
		return ev
	}
	out := []events.Event{next(events.LLMStart, map[string]string{"step_id": "llm-1"})}
	for i := range 5 {
		out = append(out, next(events.LLMDelta, map[string]string{"step_id": "llm-1", "text": fmt.Sprintf("tok%d ", i)}))
	}
	out = append(out,
		next(events.TaskStart, map[string]string{"step_id": "a", "note": `<b>"quoted" & ünïcode</b>`}),
		next(events.TaskEnd, map[string]any{"step_id": "a", "output": json.RawMessage(`{"n":[1,2,3]}`)}),
	)
	replayed := next(events.TaskEnd, map[string]string{"step_id": "b"})
	replayed.Data.Replay = true
	out = append(out, replayed)
	bare := next(events.WorkflowStart, nil)
	bare.Data.Details = nil
	return append(out, bare)
}

func encodeAll(t *testing.T, evs []events.Event) []events.Stored {
	t.Helper()
	out := make([]events.Stored, len(evs))
	for i, ev := range evs {
		st, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = st
	}
	return out
}

func sameStored(t *testing.T, got, want []events.Stored) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d stored events (seqs %v), want %d (seqs %v)", len(got), seqsOf(got), len(want), seqsOf(want))
	}
	for i := range want {
		if got[i].Seq != want[i].Seq || got[i].Type != want[i].Type || !bytes.Equal(got[i].JSON, want[i].JSON) {
			t.Fatalf("stored event %d = seq %d %s %s\nwant seq %d %s %s", i, got[i].Seq, got[i].Type, got[i].JSON, want[i].Seq, want[i].Type, want[i].JSON)
		}
	}
}

// Events come back byte for byte as events.Encode wrote them: subscribers
// frame the stored bytes without decoding them.
func testBytesRoundTrip(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	evs := mixedEvents("exec_1", 2)
	// Two writes, the first ending inside the delta run.
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: evs[:4]})
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: evs[4:]})

	want := append(encodeAll(t, []events.Event{event("exec_1", 1, events.ExecutionStarted)}), encodeAll(t, evs)...)
	got, err := s.StoredEvents(t.Context(), "exec_1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameStored(t, got, want)

	decoded, err := s.Events(t.Context(), "exec_1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range decoded {
		raw, err := json.Marshal(ev)
		if err != nil || !bytes.Equal(raw, want[i].JSON) {
			t.Fatalf("decoded event %d re-encodes as %s, want %s (%v)", i, raw, want[i].JSON, err)
		}
	}
}

func testAfterAndLimit(t *testing.T, s Store) {
	ctx := t.Context()
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	evs := mixedEvents("exec_1", 2) // seqs 2..11
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: evs[:3]})
	mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: evs[3:]})
	last := uint64(1 + len(evs))
	all := append(encodeAll(t, []events.Event{event("exec_1", 1, events.ExecutionStarted)}), encodeAll(t, evs)...)

	for after := uint64(0); after <= last+1; after++ {
		for _, limit := range []int{0, 1, 3} {
			got, err := s.StoredEvents(ctx, "exec_1", after, limit)
			if err != nil {
				t.Fatalf("StoredEvents(after %d, limit %d): %v", after, limit, err)
			}
			want := all[min(after, last):]
			if limit > 0 && len(want) > limit {
				want = want[:limit]
			}
			sameStored(t, got, want)

			decoded, err := s.Events(ctx, "exec_1", after, limit)
			if err != nil || decoded == nil || len(decoded) != len(want) {
				t.Fatalf("Events(after %d, limit %d) = %d events, %v; want %d (and [] rather than nil)", after, limit, len(decoded), err, len(want))
			}
		}
	}
}

// A token stream: thousands of llm_delta events, written a few at a time
// as the actors merge them, read back from anywhere in the middle.
func testTokenStream(t *testing.T, s Store) {
	mustCreate(t, s, newExec("ws", "wf", "exec_1", t0))
	const deltas = 3000
	var evs []events.Event
	for i := range deltas {
		ev := events.New(events.LLMDelta, map[string]string{"step_id": "llm-1", "text": fmt.Sprintf(" t%d", i)})
		ev.Data.Seq, ev.Data.ExecutionID, ev.Data.Workflow = uint64(i+2), "exec_1", "wf"
		ev.Data.Timestamp = t0.Add(time.Duration(i) * 1500 * time.Microsecond)
		evs = append(evs, ev)
	}
	for i := 0; i < deltas; {
		n := min(1+i%97, deltas-i) // writes of 1 to 97 deltas
		mustCommit(t, s, persistence.Write{ExecutionID: "exec_1", Events: evs[i : i+n]})
		i += n
	}
	want := encodeAll(t, evs)
	got, err := s.StoredEvents(t.Context(), "exec_1", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameStored(t, got, want)
	for _, after := range []uint64{2, 777, 1500, 2999, deltas} {
		got, err := s.StoredEvents(t.Context(), "exec_1", after, 50)
		if err != nil {
			t.Fatal(err)
		}
		from := int(after - 1)
		sameStored(t, got, want[from:min(from+50, deltas)])
	}
	if e := mustExecution(t, s, "exec_1"); e.LastSeq != deltas+1 {
		t.Fatalf("LastSeq = %d, want %d", e.LastSeq, deltas+1)
	}
	if got, _ := s.StoredEvents(t.Context(), "exec_1", deltas+1, 0); len(got) != 0 {
		t.Fatalf("after the last seq: %v, want nothing", seqsOf(got))
	}
}
