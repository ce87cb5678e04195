package persistence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// end completes (or fails, ...) an execution at the given time.
func end(t testing.TB, s *persistence.Store, id string, seq uint64, st weft.Status, at time.Time) {
	t.Helper()
	commit(t, s, persistence.Write{
		ExecutionID: id,
		Events:      []events.Event{ev(id, seq, events.ExecutionCompleted)},
		Status:      &persistence.StatusUpdate{Status: st, Result: json.RawMessage(`{"ok":true}`), At: at},
	})
}

// full creates an execution with events, a step, a pending signal and an
// idempotency key, so a delete has something in every bucket to remove.
func full(t testing.TB, s *persistence.Store, ws, wf, id string, created time.Time) {
	t.Helper()
	e := newExec(ws, wf, id, created)
	e.IdempotencyKey = "key-" + id
	create(t, s, e)
	commit(t, s, persistence.Write{ExecutionID: id, Events: evs(id, 2, 3),
		Steps: []persistence.Step{{ID: "1", Kind: "task", Name: "t", Output: json.RawMessage(`1`), Attempts: 1, StartedAt: created}}})
	if err := addSignal(s, id); err != nil {
		t.Fatal(err)
	}
}

// addSignal stores a pending signal, whichever AddSignal the store has
// (with or without the per-execution bound).
func addSignal(s *persistence.Store, id string) error {
	ctx, payload := context.Background(), json.RawMessage(`{}`)
	var store any = s
	switch a := store.(type) {
	case interface {
		AddSignal(context.Context, string, string, json.RawMessage, int) (persistence.Signal, error)
	}:
		_, err := a.AddSignal(ctx, id, "approve", payload, 0)
		return err
	case interface {
		AddSignal(context.Context, string, string, json.RawMessage) (persistence.Signal, error)
	}:
		_, err := a.AddSignal(ctx, id, "approve", payload)
		return err
	}
	return fmt.Errorf("no AddSignal")
}

// mentions lists every place of the file where id appears: bucket names,
// keys and values, nested buckets included.
func mentions(t testing.TB, path, id string) []string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	var walk func(where string, b *bolt.Bucket) error
	walk = func(where string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil { // nested bucket
				if bytes.Contains(k, []byte(id)) {
					out = append(out, where+"/"+string(k)+" (bucket)")
				}
				return walk(where+"/"+string(k), b.Bucket(k))
			}
			if bytes.Contains(k, []byte(id)) || bytes.Contains(v, []byte(id)) {
				out = append(out, fmt.Sprintf("%s: %q", where, k))
			}
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeleteExecutionRemovesEverything(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t, persistence.Options{NoSync: true})
	full(t, s, "ws1", "wf", "gone", t0)
	full(t, s, "ws1", "wf", "kept", t0.Add(time.Second))
	end(t, s, "gone", 4, weft.StatusCompleted, t0.Add(time.Minute))
	end(t, s, "kept", 4, weft.StatusFailed, t0.Add(time.Minute))
	// The ended index exists, so the delete has it to clean too.
	if err := s.BuildEndedIndex(ctx); err != nil {
		t.Fatal(err)
	}

	rec, err := s.DeleteExecution(ctx, "ws1", "gone")
	if err != nil {
		t.Fatalf("DeleteExecution: %v", err)
	}
	if rec.ID != "gone" || rec.Status != weft.StatusCompleted || rec.LastSeq != 4 {
		t.Fatalf("deleted record = %+v", rec)
	}
	if _, err := s.Execution(ctx, "gone"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Execution after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Events(ctx, "gone", 0, 0); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Events after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteExecution(ctx, "ws1", "gone"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	for _, st := range []weft.Status{"", weft.StatusCompleted} {
		items, _, err := s.List(ctx, persistence.ListFilter{Workspace: "ws1", Status: st})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range items {
			if e.ID == "gone" {
				t.Fatalf("List(status %q) still has the deleted execution", st)
			}
		}
	}
	if _, found, err := s.ExecutionByIdempotencyKey(ctx, "ws1", "wf", "key-gone"); err != nil || found {
		t.Fatalf("idempotency key after delete: found=%v err=%v", found, err)
	}
	// The other execution is whole.
	if got, err := s.Events(ctx, "kept", 0, 0); err != nil || len(got) != 4 {
		t.Fatalf("kept: %d events, %v", len(got), err)
	}
	if _, found, _ := s.ExecutionByIdempotencyKey(ctx, "ws1", "wf", "key-kept"); !found {
		t.Fatal("kept lost its idempotency key")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left := mentions(t, path, "gone"); len(left) > 0 {
		t.Fatalf("the deleted execution is still mentioned in: %v", left)
	}
	if left := mentions(t, path, "kept"); len(left) < 8 {
		t.Fatalf("the kept execution is mentioned in only %v", left)
	}
	s, err = persistence.Open(path, persistence.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The key is free: the same key starts a new execution.
	again := newExec("ws1", "wf", "again", t0.Add(time.Hour))
	again.IdempotencyKey = "key-gone"
	if existing, err := s.CreateExecution(ctx, again, ev("again", 1, events.ExecutionStarted)); err != nil || existing != nil {
		t.Fatalf("create with the removed key = %v, %v; want a new execution", existing, err)
	}
}

func TestDeleteExecutionRefusals(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})
	for _, st := range []weft.Status{weft.StatusRunning, weft.StatusWaiting, weft.StatusQueued} {
		id := "live-" + string(st)
		e := newExec("ws1", "wf", id, t0)
		e.Status = st
		create(t, s, e)
		_, err := s.DeleteExecution(ctx, "ws1", id)
		var ne *persistence.NotEndedError
		if !errors.Is(err, persistence.ErrNotEnded) || !errors.As(err, &ne) || ne.Status != st {
			t.Fatalf("delete of a %s execution: %v, want NotEndedError", st, err)
		}
		if _, err := s.Execution(ctx, id); err != nil {
			t.Fatalf("a refused delete removed %s: %v", id, err)
		}
	}
	create(t, s, newExec("ws1", "wf", "done", t0))
	end(t, s, "done", 2, weft.StatusCancelled, t0)
	if _, err := s.DeleteExecution(ctx, "ws2", "done"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("delete from another workspace: %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteExecution(ctx, "ws1", "nope"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("delete of an unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteExecution(ctx, "ws1", "done"); err != nil {
		t.Fatalf("delete of a cancelled execution: %v", err)
	}
}

// A delete and an append to the same execution in one batch: the delete
// sees the append's status change (it validates against the batch so far).
func TestDeleteInBatchSeesEarlierWrites(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})
	create(t, s, newExec("ws1", "wf", "a", t0))
	release := blockWriter(t, s)
	endErr := make(chan error, 1)
	s.CommitAsync(persistence.Write{ExecutionID: "a", Events: evs("a", 2, 2),
		Status: &persistence.StatusUpdate{Status: weft.StatusCompleted, At: t0}}, func(err error) { endErr <- err })
	delErr := make(chan error, 1)
	go func() { _, err := s.DeleteExecution(ctx, "ws1", "a"); delErr <- err }()
	waitQueued(t, s, 2)
	release()
	if err := <-endErr; err != nil {
		t.Fatal(err)
	}
	if err := <-delErr; err != nil {
		t.Fatalf("delete after the completing write of the same batch: %v", err)
	}
}

func ids(t testing.TB, s *persistence.Store, ws string) []string {
	t.Helper()
	var out []string
	err := s.Scan(context.Background(), func(e persistence.Execution) error {
		if e.Workspace == ws {
			out = append(out, e.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestDeleteExpiredFindsExactlyTheExpired(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, persistence.Options{NoSync: true})
	now := t0.Add(24 * time.Hour)
	// wf: kept 1h; short: kept 1m; forever: kept for ever.
	retention := func(wf string) time.Duration {
		switch wf {
		case "short":
			return time.Minute
		case "forever":
			return 0
		}
		return time.Hour
	}
	type row struct {
		wf, id string
		ended  time.Duration // before now; 0: still running
		gone   bool
	}
	rows := []row{
		{"wf", "wf-old", 2 * time.Hour, true},
		{"wf", "wf-edge", time.Hour + time.Nanosecond, true},
		{"wf", "wf-young", 30 * time.Minute, false},
		{"wf", "wf-running", 0, false},
		{"short", "short-old", 2 * time.Minute, true},
		{"short", "short-young", 30 * time.Second, false},
		{"forever", "forever-old", 1000 * time.Hour, false},
		{"zz", "zz-old", 3 * time.Hour, true},
	}
	for i, r := range rows {
		create(t, s, newExec("ws1", r.wf, r.id, t0.Add(time.Duration(i)*time.Second)))
		if r.ended > 0 {
			end(t, s, r.id, 2, weft.StatusCompleted, now.Add(-r.ended))
		}
	}
	n, more, err := s.DeleteExpired(ctx, now, retention, 100)
	if err != nil || n != 4 || more {
		t.Fatalf("DeleteExpired = %d, %v, %v; want 4, false, nil", n, more, err)
	}
	var want []string
	for _, r := range rows {
		if !r.gone {
			want = append(want, r.id)
		}
	}
	slices.Sort(want)
	if got := ids(t, s, "ws1"); !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	if n, _, err := s.DeleteExpired(ctx, now, retention, 100); err != nil || n != 0 {
		t.Fatalf("second sweep = %d, %v; want nothing", n, err)
	}
	// The running one ends: it expires an hour later, not before.
	end(t, s, "wf-running", 2, weft.StatusFailed, now)
	if n, _, _ := s.DeleteExpired(ctx, now.Add(59*time.Minute), retention, 100); n != 2 {
		// wf-young expires at now+30m, short-young at now+30s.
		t.Fatalf("at now+59m: %d removed, want 2 (wf-young, short-young)", n)
	}
	if n, _, _ := s.DeleteExpired(ctx, now.Add(61*time.Minute), retention, 100); n != 1 {
		t.Fatalf("at now+61m: %d removed, want 1 (wf-running)", n)
	}
}

func TestDeleteExpiredBatches(t *testing.T) {
	ctx := context.Background()
	var b batches
	s, _ := openStore(t, persistence.Options{NoSync: true, OnCommit: b.hook})
	const total = 1000
	for i := range total {
		id := fmt.Sprintf("e%04d", i)
		create(t, s, newExec("ws1", "wf", id, t0))
		end(t, s, id, 2, weft.StatusCompleted, t0.Add(time.Duration(i)*time.Millisecond))
	}
	now := t0.Add(time.Hour)
	keep := func(string) time.Duration { return time.Minute }
	var rounds, removed int
	for {
		n, more, err := s.DeleteExpired(ctx, now, keep, 256)
		if err != nil {
			t.Fatal(err)
		}
		rounds++
		removed += n
		if n > 256 {
			t.Fatalf("one batch removed %d, over its limit", n)
		}
		if !more {
			break
		}
	}
	if removed != total || rounds != 4 {
		t.Fatalf("removed %d in %d batches; want %d in 4", removed, rounds, total)
	}
	if got := ids(t, s, "ws1"); len(got) != 0 {
		t.Fatalf("left %d executions", len(got))
	}
}

// A store written before the ended index existed (or never swept) gets it
// built on the first sweep, from a scan in chunks; status changes during
// and after the build keep it right.
func TestEndedIndexBuiltOnFirstSweep(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t, persistence.Options{NoSync: true})
	const total = 2500 // more than one build chunk
	for i := range total {
		id := fmt.Sprintf("e%05d", i)
		create(t, s, newExec("ws1", "wf", id, t0))
		if i%2 == 0 {
			end(t, s, id, 2, weft.StatusCompleted, t0)
		}
	}
	if built, err := s.EndedIndexBuilt(ctx); err != nil || built {
		t.Fatalf("EndedIndexBuilt before any sweep = %v, %v", built, err)
	}
	keep := func(string) time.Duration { return time.Minute }
	removed := 0
	for {
		n, more, err := s.DeleteExpired(ctx, t0.Add(time.Hour), keep, 512)
		if err != nil {
			t.Fatal(err)
		}
		removed += n
		if !more {
			break
		}
	}
	if removed != total/2 {
		t.Fatalf("removed %d, want %d", removed, total/2)
	}
	if built, _ := s.EndedIndexBuilt(ctx); !built {
		t.Fatal("index not recorded as built")
	}
	// From now on a status change indexes at once; it survives a reopen.
	end(t, s, "e00001", 2, weft.StatusCompleted, t0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := persistence.Open(path, persistence.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, _, err := s2.DeleteExpired(ctx, t0.Add(time.Hour), keep, 512); err != nil || n != 1 {
		t.Fatalf("after reopen: %d removed, %v; want 1", n, err)
	}
	if got := ids(t, s2, "ws1"); len(got) != total/2-1 {
		t.Fatalf("%d left, want %d", len(got), total/2-1)
	}
}

// Imported ended executions are indexed like created ones.
func TestDeleteExpiredImported(t *testing.T) {
	ctx := context.Background()
	src, _ := openStore(t, persistence.Options{NoSync: true})
	create(t, src, newExec("ws1", "wf", "imp", t0))
	end(t, src, "imp", 2, weft.StatusCompleted, t0)
	rec, err := src.Export(ctx, "imp")
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := openStore(t, persistence.Options{NoSync: true})
	if err := dst.BuildEndedIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dst.Import(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if n, _, err := dst.DeleteExpired(ctx, t0.Add(time.Hour), func(string) time.Duration { return time.Minute }, 10); err != nil || n != 1 {
		t.Fatalf("DeleteExpired of an import = %d, %v; want 1", n, err)
	}
}
