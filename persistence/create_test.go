package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

func TestCreateExecution(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})

	t.Run("create and read back", func(t *testing.T) {
		e := newExec("ws1", "wf", "ex-read", t0)
		e.IdempotencyKey = "k-read"
		create(t, s, e)
		got, err := s.Execution(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := e
		want.LastSeq = 1
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Execution =\n%+v\nwant\n%+v", got, want)
		}
		evs, err := s.Events(ctx, e.ID, 0, 0)
		if err != nil || len(evs) != 1 || !reflect.DeepEqual(evs[0], ev(e.ID, 1, events.ExecutionStarted)) {
			t.Fatalf("Events = %+v, %v", evs, err)
		}
	})

	t.Run("unknown execution", func(t *testing.T) {
		if _, err := s.Execution(ctx, "nope"); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("Execution(nope) err = %v, want ErrNotFound", err)
		}
		if _, err := s.Events(ctx, "nope", 0, 0); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("Events(nope) err = %v, want ErrNotFound", err)
		}
		if _, err := s.Steps(ctx, "nope"); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("Steps(nope) err = %v, want ErrNotFound", err)
		}
	})

	rejects := []struct {
		name  string
		exec  persistence.Execution
		first events.Event
		want  error
	}{
		{"first seq not 1", newExec("ws1", "wf", "ex-bad1", t0), ev("ex-bad1", 2, events.ExecutionStarted), persistence.ErrSeqGap},
		{"event of another execution", newExec("ws1", "wf", "ex-bad2", t0), ev("other", 1, events.ExecutionStarted), persistence.ErrInvalid},
		{"no id", newExec("ws1", "wf", "", t0), ev("", 1, events.ExecutionStarted), persistence.ErrInvalid},
		{"no workspace", newExec("", "wf", "ex-bad3", t0), ev("ex-bad3", 1, events.ExecutionStarted), persistence.ErrInvalid},
		{"duplicate id", newExec("ws1", "wf", "ex-read", t0), ev("ex-read", 1, events.ExecutionStarted), persistence.ErrExists},
	}
	for _, tc := range rejects {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			existing, err := s.CreateExecution(ctx, tc.exec, tc.first)
			if !errors.Is(err, tc.want) || existing != nil {
				t.Fatalf("CreateExecution = %v, %v; want %v", existing, err, tc.want)
			}
		})
	}
}

func TestIdempotency(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})
	withKey := func(ws, id, key string) persistence.Execution {
		e := newExec(ws, "wf", id, t0)
		e.IdempotencyKey = key
		return e
	}
	create(t, s, withKey("ws1", "ex-1", "k1"))
	commit(t, s, persistence.Write{ExecutionID: "ex-1", Events: evs("ex-1", 2, 3)})

	t.Run("same key returns existing", func(t *testing.T) {
		existing, err := s.CreateExecution(ctx, withKey("ws1", "ex-2", "k1"), ev("ex-2", 1, events.ExecutionStarted))
		if err != nil || existing == nil || existing.ID != "ex-1" || existing.LastSeq != 3 {
			t.Fatalf("CreateExecution = %+v, %v; want ex-1 with LastSeq 3", existing, err)
		}
		if _, err := s.Execution(ctx, "ex-2"); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("ex-2 was written: %v", err)
		}
	})

	cases := []struct{ name, ws, wf string }{
		{"different workspace does not collide", "ws2", "wf"},
		{"different workflow does not collide", "ws1", "other-wf"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := withKey(tc.ws, fmt.Sprintf("ex-other-%d", i), "k1")
			e.Workflow = tc.wf
			create(t, s, e)
		})
	}

	t.Run("concurrent creates with one key create exactly one", func(t *testing.T) {
		const n = 32
		var wg sync.WaitGroup
		results := make([]*persistence.Execution, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				id := fmt.Sprintf("ex-race-%d", i)
				results[i], errs[i] = s.CreateExecution(ctx, withKey("ws1", id, "k-race"), ev(id, 1, events.ExecutionStarted))
			})
		}
		wg.Wait()
		created := ""
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("create %d: %v", i, errs[i])
			}
			if results[i] == nil {
				if created != "" {
					t.Fatalf("both %s and ex-race-%d were created", created, i)
				}
				created = fmt.Sprintf("ex-race-%d", i)
			}
		}
		if created == "" {
			t.Fatal("no create succeeded")
		}
		for i := range n {
			if results[i] != nil && results[i].ID != created {
				t.Fatalf("create %d returned %s, want %s", i, results[i].ID, created)
			}
		}
	})

	t.Run("same key twice in one batch", func(t *testing.T) {
		b := &batches{}
		s, _ := openStore(t, persistence.Options{NoSync: true, OnCommit: b.hook})
		release := blockWriter(t, s)
		type result struct {
			existing *persistence.Execution
			err      error
		}
		res := make(chan result, 2)
		for _, id := range []string{"ex-a", "ex-b"} {
			go func() {
				existing, err := s.CreateExecution(ctx, withKey("ws1", id, "k-batch"), ev(id, 1, events.ExecutionStarted))
				res <- result{existing, err}
			}()
		}
		waitQueued(t, s, 2)
		release()
		r1, r2 := <-res, <-res
		if r1.err != nil || r2.err != nil {
			t.Fatalf("errors: %v, %v", r1.err, r2.err)
		}
		if (r1.existing == nil) == (r2.existing == nil) {
			t.Fatalf("want exactly one created, got existing %+v and %+v", r1.existing, r2.existing)
		}
		if !b.has(2) {
			t.Fatalf("the two creates were not one batch: commit sizes %v", b.sizes)
		}
		items, _, err := s.List(ctx, persistence.ListFilter{Workspace: "ws1"})
		if err != nil || len(items) != 1 {
			t.Fatalf("List = %d items, %v; want 1", len(items), err)
		}
	})
}
