package persistence_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

func TestCommitAsyncOrder(t *testing.T) {
	s, _ := openStore(t, persistence.Options{NoSync: true, MaxBatch: 7})
	const execs, per = 4, 100
	for i := range execs {
		create(t, s, newExec("ws1", "wf", fmt.Sprintf("ex%d", i), t0))
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	wg.Add(execs * per)
	for n := range execs * per {
		id := fmt.Sprintf("ex%d", n%execs)
		seq := uint64(n/execs) + 2
		s.CommitAsync(persistence.Write{ExecutionID: id, Events: evs(id, seq, seq)}, func(err error) {
			if err != nil {
				t.Errorf("write %d: %v", n, err)
			}
			mu.Lock()
			order = append(order, n)
			mu.Unlock()
			wg.Done()
		})
	}
	s.CommitAsync(persistence.Write{ExecutionID: "ex0", Events: evs("ex0", 1000, 1000)}, nil) // nil done is allowed
	wg.Wait()
	for i, n := range order {
		if i != n {
			t.Fatalf("done #%d was for write %d", i, n)
		}
	}
	t.Run("invalid write calls done at once", func(t *testing.T) {
		called := false
		s.CommitAsync(persistence.Write{}, func(err error) { called = errors.Is(err, persistence.ErrInvalid) })
		if !called {
			t.Fatal("done not called with ErrInvalid before CommitAsync returned")
		}
	})
}

func TestContext(t *testing.T) {
	s, _ := openStore(t, persistence.Options{NoSync: true})
	create(t, s, newExec("ws1", "wf", "ex", t0))

	t.Run("cancelled before the call writes nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Commit(ctx, persistence.Write{ExecutionID: "ex", Events: evs("ex", 2, 2)}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Commit err = %v", err)
		}
		if _, err := s.Execution(ctx, "ex"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Execution err = %v", err)
		}
		if e, _ := s.Execution(context.Background(), "ex"); e.LastSeq != 1 {
			t.Fatalf("LastSeq = %d", e.LastSeq)
		}
	})

	t.Run("deadline while waiting returns, the write still lands", func(t *testing.T) {
		release := blockWriter(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := s.Commit(ctx, persistence.Write{ExecutionID: "ex", Events: evs("ex", 2, 2)}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Commit err = %v", err)
		}
		release()
		// seq 3 commits only if the abandoned seq 2 did.
		commit(t, s, persistence.Write{ExecutionID: "ex", Events: evs("ex", 3, 3)})
	})
}

func TestCloseDrainsThenErrClosed(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t, persistence.Options{})
	create(t, s, newExec("ws1", "wf", "ex", t0))
	release := blockWriter(t, s)
	const n = 50
	var done []error // appended by the writer goroutine only
	for i := range n {
		seq := uint64(i) + 2
		s.CommitAsync(persistence.Write{ExecutionID: "ex", Events: evs("ex", seq, seq)}, func(err error) {
			done = append(done, err)
		})
	}
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	time.Sleep(10 * time.Millisecond) // let Close start waiting for the writer
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(done) != n {
		t.Fatalf("%d of %d done callbacks ran before Close returned", len(done), n)
	}
	for i, err := range done {
		if err != nil {
			t.Fatalf("queued write %d: %v", i, err)
		}
	}

	t.Run("after Close", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := s.Commit(ctx, persistence.Write{ExecutionID: "ex"}); !errors.Is(err, persistence.ErrClosed) {
			t.Fatalf("Commit err = %v", err)
		}
		var asyncErr error
		s.CommitAsync(persistence.Write{ExecutionID: "ex"}, func(err error) { asyncErr = err })
		if !errors.Is(asyncErr, persistence.ErrClosed) {
			t.Fatalf("CommitAsync err = %v", asyncErr)
		}
		if _, err := s.CreateExecution(ctx, newExec("ws1", "wf", "ex2", t0), ev("ex2", 1, events.ExecutionStarted)); !errors.Is(err, persistence.ErrClosed) {
			t.Fatalf("CreateExecution err = %v", err)
		}
		if _, err := s.Execution(ctx, "ex"); !errors.Is(err, persistence.ErrClosed) {
			t.Fatalf("Execution err = %v", err)
		}
	})

	t.Run("reopen has every queued write", func(t *testing.T) {
		s2, err := persistence.Open(path, persistence.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if e, err := s2.Execution(ctx, "ex"); err != nil || e.LastSeq != n+1 {
			t.Fatalf("LastSeq = %d, %v; want %d", e.LastSeq, err, n+1)
		}
	})
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t, persistence.Options{})
	e := newExec("ws1", "wf", "ex", t0)
	e.IdempotencyKey = "k"
	create(t, s, e)
	create(t, s, newExec("ws1", "wf", "live", t0.Add(time.Second)))
	step := persistence.Step{ID: "s1", Kind: "task", Name: "t", Output: json.RawMessage(`1`), Attempts: 1, StartedAt: t0, CompletedAt: t0}
	commit(t, s, persistence.Write{ExecutionID: "ex", Events: evs("ex", 2, 5), Steps: []persistence.Step{step},
		Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, Result: json.RawMessage(`"r"`), At: t0.Add(time.Minute)}})
	before, _ := s.Execution(ctx, "ex")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := persistence.Open(path, persistence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	after, err := s2.Execution(ctx, "ex")
	if err != nil || !reflect.DeepEqual(before, after) || after.LastSeq != 5 || after.Status != weft.StatusCompleted {
		t.Fatalf("after reopen: %+v, %v; before %+v", after, err, before)
	}
	if got, err := s2.Events(ctx, "ex", 0, 0); err != nil || len(got) != 5 {
		t.Fatalf("Events: %d, %v", len(got), err)
	}
	if got, err := s2.Steps(ctx, "ex"); err != nil || !reflect.DeepEqual(got["s1"], step) {
		t.Fatalf("Steps: %+v, %v", got, err)
	}
	if got, err := s2.Unfinished(ctx); err != nil || len(got) != 1 || got[0].ID != "live" {
		t.Fatalf("Unfinished: %+v, %v", got, err)
	}
	if got, _, err := s2.List(ctx, persistence.ListFilter{Workspace: "ws1"}); err != nil || len(got) != 2 {
		t.Fatalf("List: %+v, %v", got, err)
	}
	e2 := newExec("ws1", "wf", "ex-dup", t0)
	e2.IdempotencyKey = "k"
	if existing, err := s2.CreateExecution(ctx, e2, ev("ex-dup", 1, events.ExecutionStarted)); err != nil || existing == nil || existing.ID != "ex" {
		t.Fatalf("idempotency index lost on reopen: %v, %v", existing, err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	b := &batches{}
	s, _ := openStore(t, persistence.Options{OnCommit: b.hook})
	const writers, commits = 64, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			id := fmt.Sprintf("ex-%02d", w)
			if _, err := s.CreateExecution(ctx, newExec("ws1", "wf", id, t0), ev(id, 1, events.ExecutionStarted)); err != nil {
				t.Errorf("create %s: %v", id, err)
				return
			}
			for seq := uint64(2); seq <= commits+1; seq++ {
				step := persistence.Step{ID: fmt.Sprint(seq), Kind: "task"}
				if err := s.Commit(ctx, persistence.Write{ExecutionID: id, Events: evs(id, seq, seq), Steps: []persistence.Step{step}}); err != nil {
					t.Errorf("%s seq %d: %v", id, seq, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for w := range writers {
		id := fmt.Sprintf("ex-%02d", w)
		got, err := s.Events(ctx, id, 0, 0)
		if err != nil || len(got) != commits+1 {
			t.Fatalf("%s: %d events, %v", id, len(got), err)
		}
		for i, e := range got {
			if e.Seq() != uint64(i)+1 {
				t.Fatalf("%s: event %d has seq %d", id, i, e.Seq())
			}
		}
		if steps, _ := s.Steps(ctx, id); len(steps) != commits {
			t.Fatalf("%s: %d steps", id, len(steps))
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	total, biggest := 0, 0
	for _, n := range b.sizes {
		total += n
		biggest = max(biggest, n)
	}
	t.Logf("%d writes in %d commits (largest %d)", total, len(b.sizes), biggest)
}

func TestSecondOpenFails(t *testing.T) {
	_, path := openStore(t, persistence.Options{NoSync: true})
	start := time.Now()
	s2, err := persistence.Open(path, persistence.Options{NoSync: true})
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("err = %v; want a clear lock timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second Open took %v", d)
	}
}
