package jsstore

import (
	"context"
	"encoding/json"
	"math/bits"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence"
)

// These tests play the crashes a black-box test cannot: a writer that
// dies between its message and its projections, a creator that dies
// before its first event.

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testStores(t *testing.T, n int) []*Store {
	t.Helper()
	url := natstest.Server(t).URL()
	var out []*Store
	for range n {
		s, err := Open(t.Context(), natstest.Connect(t, url), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out = append(out, s)
	}
	return out
}

func newExec(id string) persistence.Execution {
	return persistence.Execution{ID: id, Workspace: "ws", Workflow: "wf", Status: weft.StatusRunning,
		Parameters: json.RawMessage(`{}`), Metadata: json.RawMessage(`{}`), CreatedAt: t0, UpdatedAt: t0}
}

func ev(id string, seq uint64) events.Event {
	return events.Event{Type: events.TaskEnd, Data: events.Data{Timestamp: t0, ExecutionID: id, Workflow: "wf", Seq: seq, Details: json.RawMessage(`{}`)}}
}

func mustCreate(t *testing.T, s *Store, id string) {
	t.Helper()
	first := events.Event{Type: events.ExecutionStarted, Data: events.Data{Timestamp: t0, ExecutionID: id, Workflow: "wf", Seq: 1}}
	if existing, err := s.CreateExecution(t.Context(), newExec(id), first); err != nil || existing != nil {
		t.Fatalf("CreateExecution = %v, %v", existing, err)
	}
}

// appendOnly stores w's message the way a writer does, and then dies:
// nothing of it is projected.
func appendOnly(t *testing.T, s *Store, w persistence.Write) {
	t.Helper()
	p, err := prepareWrite(w, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &execLog{id: w.ExecutionID}
	st, err := s.logState(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.appendWrite(t.Context(), st, p); err != nil {
		t.Fatal(err)
	}
}

func TestNextWriterAppliesTheLastWrite(t *testing.T) {
	stores := testStores(t, 2)
	dead, next := stores[0], stores[1]
	ctx := t.Context()
	mustCreate(t, dead, "exec_1")
	sig, err := dead.AddSignal(ctx, "exec_1", "go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	appendOnly(t, dead, persistence.Write{
		ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 2)},
		Steps:          []persistence.Step{{ID: "s1", Name: "done before the crash"}},
		Status:         &persistence.StatusUpdate{Status: weft.StatusWaiting, At: t0, WakeAt: t0.Add(time.Hour)},
		ConsumeSignals: []uint64{sig.Seq},
	})
	// The crash shows: the event is there, its checkpoint is not.
	if steps, _ := next.Steps(ctx, "exec_1"); len(steps) != 0 {
		t.Fatalf("steps before anyone applied the write: %v", steps)
	}

	// The next owner's first write applies it before appending.
	if err := next.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 3)}}); err != nil {
		t.Fatal(err)
	}
	steps, err := next.Steps(ctx, "exec_1")
	if err != nil || steps["s1"].Name != "done before the crash" {
		t.Fatalf("steps = %v, %v; want s1 from the dead writer's message", steps, err)
	}
	e, err := next.Execution(ctx, "exec_1")
	if err != nil || e.Status != weft.StatusWaiting || e.LastSeq != 3 {
		t.Fatalf("record = %+v, %v", e, err)
	}
	if pending, _ := next.Signals(ctx, "exec_1"); len(pending) != 0 {
		t.Fatalf("the consumed signal is still pending: %v", pending)
	}
	idx, err := next.WaitingIndex(ctx)
	if err != nil || !idx["exec_1"].Equal(t0.Add(time.Hour)) {
		t.Fatalf("WaitingIndex = %v, %v", idx, err)
	}
}

// A write applied late (by a writer fenced right after its append) does
// not undo the newer one that replaced its checkpoint and status.
func TestLateProjectionDoesNotUndo(t *testing.T) {
	s := testStores(t, 1)[0]
	ctx := t.Context()
	mustCreate(t, s, "exec_1")
	l := &execLog{id: "exec_1"}
	st, err := s.logState(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	newer := &commitPart{Steps: []persistence.Step{{ID: "s1", Name: "newer"}}, Status: &statusPart{Status: weft.StatusCompleted, At: t0}}
	if err := s.project(ctx, st, newer, 100); err != nil {
		t.Fatal(err)
	}
	late, err := s.logState(ctx, &execLog{id: "exec_1"}) // another writer's view
	if err != nil {
		t.Fatal(err)
	}
	older := &commitPart{Steps: []persistence.Step{{ID: "s1", Name: "older"}}, Status: &statusPart{Status: weft.StatusRunning, At: t0}}
	if err := s.project(ctx, late, older, 50); err != nil {
		t.Fatal(err)
	}
	if steps, _ := s.Steps(ctx, "exec_1"); steps["s1"].Name != "newer" {
		t.Fatalf("step = %+v, want the newer checkpoint", steps["s1"])
	}
	if e, _ := s.Execution(ctx, "exec_1"); e.Status != weft.StatusCompleted {
		t.Fatalf("status = %s, want completed", e.Status)
	}
	// And a write applied twice is applied once.
	if err := s.project(ctx, st, newer, 100); err != nil {
		t.Fatalf("applying a write again: %v", err)
	}
}

// A creator that dies after the record and before the first event: the
// next reader publishes the event from the record.
func TestReaderCompletesAnInterruptedCreate(t *testing.T) {
	stores := testStores(t, 2)
	dead, reader := stores[0], stores[1]
	ctx := t.Context()
	first := events.Event{Type: events.ExecutionStarted, Data: events.Data{Timestamp: t0, ExecutionID: "exec_1", Workflow: "wf", Seq: 1, Details: json.RawMessage(`{"parameters":{}}`)}}
	st, err := events.Encode(first)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(recordValue{Exec: newExec("exec_1"), First: st.JSON})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.records.Create(ctx, recordKey("exec_1"), raw); err != nil {
		t.Fatal(err)
	}
	if err := dead.putUnfinished(ctx, newExec("exec_1"), time.Time{}); err != nil {
		t.Fatal(err)
	}

	unfinished, err := reader.Unfinished(ctx)
	if err != nil || len(unfinished) != 1 || unfinished[0].LastSeq != 1 {
		t.Fatalf("Unfinished = %+v, %v; want exec_1 with its first event", unfinished, err)
	}
	got, err := reader.StoredEvents(ctx, "exec_1", 0, 0)
	if err != nil || len(got) != 1 || string(got[0].JSON) != string(st.JSON) {
		t.Fatalf("log = %+v, %v; want the first event from the record", got, err)
	}
	// The creator, had it lived, would have published the same message:
	// it is not stored twice.
	if _, err := dead.publishFirst(ctx, newExec("exec_1"), st.JSON, nil); err != nil {
		t.Fatalf("the creator's late publish: %v", err)
	}
	if got, _ := reader.StoredEvents(ctx, "exec_1", 0, 0); len(got) != 1 {
		t.Fatalf("log has %d events, want 1", len(got))
	}
}

// countingStream counts the message gets of a stream.
type countingStream struct {
	jetstream.Stream
	gets atomic.Int64
}

func (c *countingStream) GetMsg(ctx context.Context, seq uint64, opts ...jetstream.GetMsgOpt) (*jetstream.RawStreamMsg, error) {
	c.gets.Add(1)
	return c.Stream.GetMsg(ctx, seq, opts...)
}

// Reading after seq N finds its start in a few gets, whatever N and
// however the log is interleaved with others in the stream.
func TestFindStartReadsLittle(t *testing.T) {
	s := testStores(t, 1)[0]
	ctx := t.Context()
	mustCreate(t, s, "exec_1")
	mustCreate(t, s, "exec_2")
	// exec_1's writes of 1 to 5 events, exec_2's in bursts between them.
	seq1, seq2 := uint64(2), uint64(2)
	for w := range 300 {
		var evs []events.Event
		for range 1 + w%5 {
			evs, seq1 = append(evs, ev("exec_1", seq1)), seq1+1
		}
		if err := s.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: evs}); err != nil {
			t.Fatal(err)
		}
		for range w % 7 {
			if err := s.Commit(ctx, persistence.Write{ExecutionID: "exec_2", Events: []events.Event{ev("exec_2", seq2)}}); err != nil {
				t.Fatal(err)
			}
			seq2++
		}
	}
	counting := &countingStream{Stream: s.events}
	s.events = counting
	subject := s.names.eventsSubject("ws", "exec_1")
	last, err := s.lastMessage(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	info, err := counting.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bound := int64(2*bits.Len64(info.State.LastSeq) + 2)
	worst := int64(0)
	for after := uint64(0); after < last.seq; after += 7 {
		counting.gets.Store(0)
		start, err := s.findStart(ctx, subject, after, last)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := counting.Stream.GetMsg(ctx, start)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parseFrame(msg.Data)
		if err != nil || msg.Subject != subject {
			t.Fatalf("start %d is not a message of exec_1: %s, %v", start, msg.Subject, err)
		}
		seq, _ := frameSeq(msg.Header)
		if first := seq - uint64(len(f.events)) + 1; first > after+1 || seq <= after {
			t.Fatalf("after %d: start holds seqs %d..%d, want %d among them", after, first, seq, after+1)
		}
		worst = max(worst, counting.gets.Load())
	}
	if worst > bound {
		t.Fatalf("findStart took up to %d gets on a stream of %d messages, want at most %d", worst, info.State.LastSeq, bound)
	}
	t.Logf("findStart: at most %d gets on a stream of %d messages (log of %d events)", worst, info.State.LastSeq, last.seq)
}
