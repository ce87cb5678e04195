package jsstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/persistence/jsstore"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newExec(id string) persistence.Execution {
	return persistence.Execution{
		ID: id, Workspace: "ws", Workflow: "wf", Status: weft.StatusRunning,
		Parameters: json.RawMessage(`{}`), Metadata: json.RawMessage(`{}`),
		CreatedAt: t0, UpdatedAt: t0,
	}
}

// event is seq of id with details saying which node wrote it.
func event(id string, seq uint64, by string) events.Event {
	return events.Event{Type: events.TaskEnd, Data: events.Data{
		Timestamp: t0.Add(time.Duration(seq) * time.Millisecond), ExecutionID: id, Workflow: "wf", Seq: seq,
		Details: json.RawMessage(fmt.Sprintf(`{"by":%q}`, by)),
	}}
}

func create(t *testing.T, s *jsstore.Store, id string) {
	t.Helper()
	first := events.Event{Type: events.ExecutionStarted, Data: events.Data{Timestamp: t0, ExecutionID: id, Workflow: "wf", Seq: 1}}
	if existing, err := s.CreateExecution(t.Context(), newExec(id), first); err != nil || existing != nil {
		t.Fatalf("CreateExecution(%s) = %v, %v", id, existing, err)
	}
}

func commit(t *testing.T, s *jsstore.Store, w persistence.Write) {
	t.Helper()
	if err := s.Commit(t.Context(), w); err != nil {
		t.Fatalf("Commit(%s): %v", w.ExecutionID, err)
	}
}

// twoNodesR3 is twoNodes on two servers of a 3-server cluster, every
// stream and bucket R3.
func twoNodesR3(t *testing.T) (a, b *jsstore.Store) {
	t.Helper()
	nodes := natstest.Cluster(t, 3)
	prefix := fmt.Sprintf("T%d", prefixes.Add(1))
	a = openStore(t, natstest.Connect(t, nodes[0].URL()), jsstore.Options{Prefix: prefix, Replicas: 3})
	b = openStore(t, natstest.Connect(t, nodes[1].URL()), jsstore.Options{Prefix: prefix, Replicas: 3})
	return a, b
}

// twoNodes opens two stores on the same streams through two connections:
// two weft nodes.
func twoNodes(t *testing.T, urls string) (a, b *jsstore.Store) {
	t.Helper()
	prefix := fmt.Sprintf("T%d", prefixes.Add(1))
	a = openStore(t, natstest.Connect(t, urls), jsstore.Options{Prefix: prefix})
	b = openStore(t, natstest.Connect(t, urls), jsstore.Options{Prefix: prefix})
	return a, b
}

// Node A runs an execution; node B takes it over and appends. A's next
// write is fenced: none of it lands (events, checkpoint, status, consumed
// signal), and B's log, checkpoints and status stand.
func TestFencedWriterStoresNothing(t *testing.T) {
	a, b := twoNodes(t, natstest.Server(t).URL())
	ctx := t.Context()
	create(t, a, "exec_1")
	sig, err := a.AddSignal(ctx, "exec_1", "go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, a, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 2, "a")}})

	commit(t, b, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 3, "b")},
		Steps: []persistence.Step{{ID: "s1", Name: "by b"}}, Status: &persistence.StatusUpdate{Status: weft.StatusWaiting, At: t0}})

	err = a.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 3, "a")},
		Steps:          []persistence.Step{{ID: "s1", Name: "by a"}, {ID: "s2", Name: "by a"}},
		Status:         &persistence.StatusUpdate{Status: weft.StatusCompleted, At: t0},
		ConsumeSignals: []uint64{sig.Seq}})
	if !errors.Is(err, jsstore.ErrFenced) {
		t.Fatalf("A's write after B's = %v, want ErrFenced", err)
	}

	evs, err := b.Events(ctx, "exec_1", 0, 0)
	if err != nil || len(evs) != 3 || !bytes.Contains(evs[2].Data.Details, []byte(`"b"`)) {
		t.Fatalf("log = %+v, %v; want 3 events, the last B's", evs, err)
	}
	steps, err := b.Steps(ctx, "exec_1")
	if err != nil || len(steps) != 1 || steps["s1"].Name != "by b" {
		t.Fatalf("steps = %+v, %v; want only B's s1", steps, err)
	}
	if e, _ := b.Execution(ctx, "exec_1"); e.Status != weft.StatusWaiting || e.LastSeq != 3 {
		t.Fatalf("record = %+v, want B's status and LastSeq 3", e)
	}
	if pending, _ := b.Signals(ctx, "exec_1"); len(pending) != 1 {
		t.Fatalf("the fenced write consumed the signal: %+v", pending)
	}

	// A stays fenced until it forgets the execution; then its writes are
	// checked against the log as it is (so a stale seq is a gap), and one
	// that continues it goes through (A took the execution back).
	err = a.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 4, "a")}})
	if !errors.Is(err, jsstore.ErrFenced) {
		t.Fatalf("A's write after being fenced = %v, want ErrFenced", err)
	}
	a.Forget("exec_1")
	err = a.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 3, "a")}})
	if !errors.Is(err, persistence.ErrSeqGap) {
		t.Fatalf("A's stale write = %v, want ErrSeqGap", err)
	}
	commit(t, a, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 4, "a")}})
	if e, _ := b.Execution(ctx, "exec_1"); e.LastSeq != 4 {
		t.Fatalf("LastSeq = %d, want 4", e.LastSeq)
	}
}

// Writes queued behind a fenced one fail too, and nothing of them lands.
func TestQueuedWritesBehindAFenceFail(t *testing.T) {
	a, b := twoNodes(t, natstest.Server(t).URL())
	create(t, a, "exec_1")
	commit(t, a, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 2, "a")}})
	commit(t, b, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", 3, "b")}})

	errs := make(chan error, 3)
	for seq := uint64(3); seq <= 5; seq++ {
		a.CommitAsync(persistence.Write{ExecutionID: "exec_1", Events: []events.Event{event("exec_1", seq, "a")}}, func(err error) { errs <- err })
	}
	if err := <-errs; !errors.Is(err, jsstore.ErrFenced) {
		t.Fatalf("first queued write = %v, want ErrFenced", err)
	}
	for range 2 {
		// Seq 4 would continue B's log, but it was built on A's seq 3.
		if err := <-errs; !errors.Is(err, jsstore.ErrFenced) {
			t.Fatalf("later queued write = %v, want ErrFenced", err)
		}
	}
	evs, err := b.StoredEvents(t.Context(), "exec_1", 0, 0)
	if err != nil || len(evs) != 3 || !bytes.Contains(evs[2].JSON, []byte(`"b"`)) {
		t.Fatalf("log = %d events, %v; want B's 3", len(evs), err)
	}
}

// A node that does not write an execution reads its log after any seq,
// byte for byte, while its own node appends, with other executions'
// writes interleaved in the stream.
func TestReadAfterFromAnotherNode(t *testing.T) {
	writer, reader := twoNodes(t, natstest.Server(t).URL())
	const others = 3
	create(t, writer, "exec_1")
	for i := range others {
		create(t, writer, fmt.Sprintf("exec_other_%d", i))
	}
	var want []events.Stored
	first, _ := events.Encode(events.Event{Type: events.ExecutionStarted, Data: events.Data{Timestamp: t0, ExecutionID: "exec_1", Workflow: "wf", Seq: 1}})
	want = append(want, first)
	seq := uint64(2)
	for w := range 120 {
		var evs []events.Event
		for range 1 + w%4 {
			ev := event("exec_1", seq, fmt.Sprintf("write %d", w))
			st, err := events.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			evs, want, seq = append(evs, ev), append(want, st), seq+1
		}
		commit(t, writer, persistence.Write{ExecutionID: "exec_1", Events: evs})
		for i := range w % (others + 1) {
			id := fmt.Sprintf("exec_other_%d", i)
			e, err := writer.Execution(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			commit(t, writer, persistence.Write{ExecutionID: id, Events: []events.Event{event(id, e.LastSeq+1, "other")}})
		}
	}
	last := uint64(len(want))
	for _, after := range []uint64{0, 1, 2, 3, 57, 150, 151, last - 5, last - 1, last} {
		for _, limit := range []int{0, 7} {
			got, err := reader.StoredEvents(t.Context(), "exec_1", after, limit)
			if err != nil {
				t.Fatalf("StoredEvents(after %d): %v", after, err)
			}
			exp := want[after:]
			if limit > 0 && len(exp) > limit {
				exp = exp[:limit]
			}
			if len(got) != len(exp) {
				t.Fatalf("after %d limit %d: %d events, want %d", after, limit, len(got), len(exp))
			}
			for i := range exp {
				if got[i].Seq != exp[i].Seq || !bytes.Equal(got[i].JSON, exp[i].JSON) {
					t.Fatalf("after %d: event %d = %d %s, want %d %s", after, i, got[i].Seq, got[i].JSON, exp[i].Seq, exp[i].JSON)
				}
			}
		}
	}
	if e, err := reader.Execution(context.Background(), "exec_1"); err != nil || e.LastSeq != last {
		t.Fatalf("reader's Execution = %+v, %v; want LastSeq %d", e, err, last)
	}
}

// UnfinishedWhere loads only the executions its filter keeps (a node
// taking over partitions), and finds the same ones as Unfinished.
func TestUnfinishedWhere(t *testing.T) {
	s, _ := twoNodes(t, natstest.Server(t).URL())
	for _, id := range []string{"exec_a1", "exec_b1", "exec_a2", "exec_b2"} {
		create(t, s, id)
	}
	onA := func(id string) bool { return strings.HasPrefix(id, "exec_a") }
	var asked []string
	got, waiting, err := s.UnfinishedWhere(t.Context(), func(id string) bool {
		asked = append(asked, id)
		return onA(id)
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []string{"exec_a1", "exec_a2"}) {
		t.Errorf("UnfinishedWhere = %v, want exec_a1 and exec_a2", ids)
	}
	if len(waiting) != 0 {
		t.Errorf("waiting index %v, want empty: none waits", waiting)
	}
	if len(asked) != 4 {
		t.Errorf("the filter was asked about %v, want each of the 4 once", asked)
	}
	all, err := s.Unfinished(t.Context())
	if err != nil || len(all) != 4 {
		t.Errorf("Unfinished = %d executions, %v; want 4", len(all), err)
	}
}
