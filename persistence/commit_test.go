package persistence_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

func TestCommitAndEvents(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})
	create(t, s, newExec("ws1", "wf", "ex", t0))
	create(t, s, newExec("ws1", "wf", "empty", t0))
	commit(t, s, persistence.Write{ExecutionID: "ex", Events: evs("ex", 2, 4)})
	commit(t, s, persistence.Write{ExecutionID: "ex", Events: evs("ex", 5, 10)})

	cases := []struct {
		name            string
		id              string
		after           uint64
		limit           int
		wantFrom, wantN uint64
	}{
		{"all", "ex", 0, 0, 1, 10},
		{"after 3 limit 4", "ex", 3, 4, 4, 4},
		{"after 8 no limit", "ex", 8, 0, 9, 2},
		{"limit past the end", "ex", 7, 100, 8, 3},
		{"after the last", "ex", 10, 0, 0, 0},
		{"after max uint64", "ex", ^uint64(0), 0, 0, 0},
		{"only the first event", "empty", 0, 5, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Events(ctx, tc.id, tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(got)) != tc.wantN {
				t.Fatalf("got %d events, want %d", len(got), tc.wantN)
			}
			for i, e := range got {
				if e.Seq() != tc.wantFrom+uint64(i) {
					t.Fatalf("event %d has seq %d, want %d", i, e.Seq(), tc.wantFrom+uint64(i))
				}
				if e.Seq() > 1 && !reflect.DeepEqual(e, ev(tc.id, e.Seq(), events.TaskEnd)) {
					t.Fatalf("event %d = %+v", i, e)
				}
			}
		})
	}

	t.Run("LastSeq follows the log", func(t *testing.T) {
		got, err := s.Execution(ctx, "ex")
		if err != nil || got.LastSeq != 10 {
			t.Fatalf("Execution = LastSeq %d, %v; want 10", got.LastSeq, err)
		}
	})

	rejects := []struct {
		name string
		w    persistence.Write
		want error
	}{
		{"unknown execution", persistence.Write{ExecutionID: "nope", Events: evs("nope", 1, 1)}, persistence.ErrNotFound},
		{"gap after the log", persistence.Write{ExecutionID: "ex", Events: evs("ex", 12, 12)}, persistence.ErrSeqGap},
		{"seq already stored", persistence.Write{ExecutionID: "ex", Events: evs("ex", 10, 11)}, persistence.ErrSeqGap},
		{"gap inside the write", persistence.Write{ExecutionID: "ex", Events: append(evs("ex", 11, 11), ev("ex", 13, events.TaskEnd))}, persistence.ErrSeqGap},
		{"event of another execution", persistence.Write{ExecutionID: "ex", Events: evs("empty", 11, 11)}, persistence.ErrInvalid},
		{"step without id", persistence.Write{ExecutionID: "ex", Steps: []persistence.Step{{Kind: "task"}}}, persistence.ErrInvalid},
		{"unknown status", persistence.Write{ExecutionID: "ex", Status: &persistence.StatusUpdate{Status: "bogus"}}, persistence.ErrInvalid},
	}
	for _, tc := range rejects {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			if err := s.Commit(ctx, tc.w); !errors.Is(err, tc.want) {
				t.Fatalf("Commit err = %v, want %v", err, tc.want)
			}
			if got, _ := s.Execution(ctx, "ex"); got.LastSeq != 10 {
				t.Fatalf("LastSeq = %d after a rejected write, want 10", got.LastSeq)
			}
		})
	}
}

func TestSeqGapInBatch(t *testing.T) {
	ctx := context.Background()
	b := &batches{}
	s, _ := openStore(t, persistence.Options{NoSync: true, OnCommit: b.hook})
	for _, id := range []string{"a", "b", "c"} {
		create(t, s, newExec("ws1", "wf", id, t0))
	}
	release := blockWriter(t, s)
	step := persistence.Step{ID: "s1", Kind: "task", Name: "n"}
	writes := []persistence.Write{
		{ExecutionID: "a", Events: evs("a", 2, 3)},
		{ExecutionID: "b", Events: evs("b", 3, 3), Steps: []persistence.Step{step}, // gap: b's log ends at 1
			Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, At: t0}},
		{ExecutionID: "a", Events: evs("a", 4, 4)}, // continues the first write of the batch
		{ExecutionID: "c", Events: evs("c", 2, 2), Steps: []persistence.Step{step}},
	}
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	wg.Add(len(writes))
	for i, w := range writes {
		s.CommitAsync(w, func(err error) { errs[i] = err; wg.Done() })
	}
	release()
	wg.Wait()
	if !b.has(len(writes)) {
		t.Fatalf("writes were not one batch: commit sizes %v", b.sizes)
	}
	for i, want := range []error{nil, persistence.ErrSeqGap, nil, nil} {
		if (want == nil && errs[i] != nil) || !errors.Is(errs[i], want) {
			t.Fatalf("write %d: err %v, want %v", i, errs[i], want)
		}
	}
	wantLast := map[string]uint64{"a": 4, "b": 1, "c": 2}
	for id, want := range wantLast {
		e, err := s.Execution(ctx, id)
		if err != nil || e.LastSeq != want {
			t.Fatalf("%s: LastSeq %d, %v; want %d", id, e.LastSeq, err, want)
		}
	}
	// Nothing of b's write: no step, no status change.
	if steps, _ := s.Steps(ctx, "b"); len(steps) != 0 {
		t.Fatalf("b has steps %v", steps)
	}
	if e, _ := s.Execution(ctx, "b"); e.Status != weft.StatusRunning {
		t.Fatalf("b has status %s", e.Status)
	}
	if steps, _ := s.Steps(ctx, "c"); len(steps) != 1 {
		t.Fatalf("c has steps %v", steps)
	}
}

func TestFailedTransactionFallsBackToOneByOne(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})
	create(t, s, newExec("ws1", "wf", "a", t0))
	release := blockWriter(t, s)
	var errs [3]error
	var wg sync.WaitGroup
	wg.Add(3)
	s.CommitAsync(persistence.Write{ExecutionID: "a", Events: evs("a", 2, 2)}, func(err error) { errs[0] = err; wg.Done() })
	if err := persistence.QueueFailingPut(s, func(err error) { errs[1] = err; wg.Done() }); err != nil {
		t.Fatal(err)
	}
	s.CommitAsync(persistence.Write{ExecutionID: "a", Events: evs("a", 3, 3)}, func(err error) { errs[2] = err; wg.Done() })
	release()
	wg.Wait()
	if errs[0] != nil || !errors.Is(errs[1], persistence.ErrInjected) || errs[2] != nil {
		t.Fatalf("errs = %v; want nil, ErrInjected, nil", errs)
	}
	if e, err := s.Execution(ctx, "a"); err != nil || e.LastSeq != 3 {
		t.Fatalf("a: LastSeq %d, %v; want 3", e.LastSeq, err)
	}
	if _, err := s.Execution(ctx, "partial"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("the failed op left a partial record: %v", err)
	}
}

func TestStatus(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})
	for i, id := range []string{"old", "mid", "new"} {
		create(t, s, newExec("ws1", "wf", id, t0.Add(time.Duration(i)*time.Minute)))
	}
	unfinished := func() []string {
		t.Helper()
		list, err := s.Unfinished(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range list {
			ids = append(ids, e.ID)
		}
		return ids
	}
	if got := unfinished(); !reflect.DeepEqual(got, []string{"old", "mid", "new"}) {
		t.Fatalf("Unfinished = %v, want oldest first", got)
	}

	cases := []struct {
		name   string
		id     string
		status weft.Status
		want   []string
	}{
		{"waiting stays unfinished", "mid", weft.StatusWaiting, []string{"old", "mid", "new"}},
		{"completed leaves unfinished", "mid", weft.StatusCompleted, []string{"old", "new"}},
		{"failed leaves unfinished", "old", weft.StatusFailed, []string{"new"}},
		{"back to running re-enters unfinished", "old", weft.StatusRunning, []string{"old", "new"}},
		{"cancelled leaves unfinished", "new", weft.StatusCancelled, []string{"old"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at := t0.Add(time.Hour + time.Duration(i)*time.Second)
			upd := &persistence.StatusUpdate{Status: tc.status, At: at}
			if tc.status == weft.StatusCompleted {
				upd.Result = json.RawMessage(`{"ok":true}`)
			}
			if tc.status == weft.StatusFailed {
				upd.Error = &events.ErrorInfo{Message: "boom", Code: "X"}
			}
			last, _ := s.Execution(ctx, tc.id)
			commit(t, s, persistence.Write{ExecutionID: tc.id, Events: evs(tc.id, last.LastSeq+1, last.LastSeq+1), Status: upd})
			got, err := s.Execution(ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.status || !got.UpdatedAt.Equal(at) || string(got.Result) != string(upd.Result) ||
				!reflect.DeepEqual(got.Error, upd.Error) || got.LastSeq != last.LastSeq+1 {
				t.Fatalf("Execution = %+v", got)
			}
			if ids := unfinished(); !reflect.DeepEqual(ids, tc.want) {
				t.Fatalf("Unfinished = %v, want %v", ids, tc.want)
			}
			items, _, err := s.List(ctx, persistence.ListFilter{Workspace: "ws1", Status: tc.status})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range items {
				found = found || e.ID == tc.id
				if e.Status != tc.status {
					t.Fatalf("List(status %s) returned %s with status %s", tc.status, e.ID, e.Status)
				}
			}
			if !found {
				t.Fatalf("List(status %s) lacks %s", tc.status, tc.id)
			}
		})
	}
}

func TestSteps(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})
	create(t, s, newExec("ws1", "wf", "ex", t0))
	if steps, err := s.Steps(ctx, "ex"); err != nil || len(steps) != 0 {
		t.Fatalf("Steps before any = %v, %v", steps, err)
	}
	s1 := persistence.Step{ID: "0/task:fetch", Kind: "task", Name: "fetch", Output: json.RawMessage(`{"body":"hi"}`),
		Attempts: 2, StartedAt: t0, CompletedAt: t0.Add(time.Second)}
	s2 := persistence.Step{ID: "1/llm:plan", Kind: "llm", Name: "plan",
		Error: &events.ErrorInfo{Message: "quota", Code: "RATE"}, Attempts: 3, StartedAt: t0, CompletedAt: t0.Add(2 * time.Second)}
	commit(t, s, persistence.Write{ExecutionID: "ex", Steps: []persistence.Step{s1}})
	commit(t, s, persistence.Write{ExecutionID: "ex", Events: evs("ex", 2, 2), Steps: []persistence.Step{s2}})
	s1b := s1
	s1b.Output = json.RawMessage(`"replaced"`)
	commit(t, s, persistence.Write{ExecutionID: "ex", Steps: []persistence.Step{s1b}})

	got, err := s.Steps(ctx, "ex")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]persistence.Step{s1.ID: s1b, s2.ID: s2}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Steps =\n%+v\nwant\n%+v", got, want)
	}
}
