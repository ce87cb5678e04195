package persistence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// Space benchmarks: what weft's writes cost on disk. They write through
// the Store API the way the execution actor does (one Write per task_start,
// one per task_end with its checkpoint, the end with the status change),
// with events built by events.New, then measure the file:
//
//   - file-B: the file's size. bbolt grows the file in steps (the mmap
//     doubles up to 1 GiB), so this is coarse on small stores.
//   - inuse-B: pages in use (data size minus free and pending pages): what
//     the data really takes, and what a compaction brings the file near.
//   - value-B: bytes of keys and values weft put, before any page overhead.
//
// Run: go test -run '^$' -bench Space -benchtime 2000x ./persistence/

// spaceExecID is shaped like weft.NewID("exec_").
func spaceExecID(i int) string { return fmt.Sprintf("exec_0k1v9r3bx%015d", i) }

// spaceWriter assigns seqs and timestamps as the execution actor does.
type spaceWriter struct {
	s    *persistence.Store
	id   string
	wf   string
	seq  uint64
	now  time.Time
	tick time.Duration
	val  int64 // bytes of values and keys put
}

func (w *spaceWriter) stamp(evs []events.Event) {
	for i := range evs {
		w.seq++
		w.now = w.now.Add(w.tick)
		d := &evs[i].Data
		d.Seq, d.Timestamp, d.ExecutionID, d.Workflow = w.seq, w.now, w.id, w.wf
		if st, err := events.Encode(evs[i]); err == nil {
			w.val += int64(len(st.JSON) + 8)
		}
	}
}

func (w *spaceWriter) create(tb testing.TB, params json.RawMessage) {
	first := []events.Event{events.New(events.ExecutionStarted, events.ExecutionStartedDetails{Parameters: params, Metadata: json.RawMessage(`{}`)})}
	w.stamp(first)
	exec := persistence.Execution{
		ID: w.id, Workspace: "ws_acme", Workflow: w.wf, Status: weft.StatusRunning,
		Parameters: params, Metadata: json.RawMessage(`{}`), StartedBy: "key:ops",
		CreatedAt: w.now, UpdatedAt: w.now,
	}
	if raw, err := json.Marshal(exec); err == nil {
		w.val += int64(len(raw)+len(w.id)) + 3*int64(len(w.id)+20) // record + 3 index keys
	}
	if _, err := w.s.CreateExecution(context.Background(), exec, first[0]); err != nil {
		tb.Fatal(err)
	}
}

func (w *spaceWriter) commit(tb testing.TB, evs []events.Event, steps []persistence.Step, status *persistence.StatusUpdate) {
	w.stamp(evs)
	for _, st := range steps {
		if raw, err := json.Marshal(st); err == nil {
			w.val += int64(len(raw) + len(st.ID))
		}
	}
	if err := w.s.Commit(context.Background(), persistence.Write{ExecutionID: w.id, Events: evs, Steps: steps, Status: status}); err != nil {
		tb.Fatal(err)
	}
}

func ms(d time.Duration) *int64 { n := d.Milliseconds(); return &n }

// tenSteps writes a countdown-like execution of 10 tasks, as the actor
// writes it: 24 events, 10 checkpoints, 12 writes after the create.
func tenSteps(tb testing.TB, w *spaceWriter) {
	w.create(tb, json.RawMessage(`{"steps":10}`))
	w.commit(tb, []events.Event{events.New(events.WorkflowStart, events.WorkflowDetails{Name: w.wf, Input: json.RawMessage(`{"steps":10}`)})}, nil, nil)
	for i := 1; i <= 10; i++ {
		sid, name := fmt.Sprint(i), fmt.Sprintf("tick-%d", i)
		w.commit(tb, []events.Event{events.New(events.TaskStart, events.TaskDetails{StepID: sid, Name: name, Attempt: 1})}, nil, nil)
		out := json.RawMessage(fmt.Sprint(10 - i))
		began := w.now
		w.commit(tb, []events.Event{events.New(events.TaskEnd, events.TaskDetails{StepID: sid, Name: name, Attempt: 1, Output: out, DurationMS: ms(3 * time.Millisecond)})},
			[]persistence.Step{{ID: sid, Kind: "task", Name: name, Output: out, Attempts: 1, StartedAt: began, CompletedAt: w.now}}, nil)
	}
	res := json.RawMessage(`{"steps":10}`)
	w.commit(tb, []events.Event{
		events.New(events.WorkflowEnd, events.WorkflowDetails{Name: w.wf, Output: res}),
		events.New(events.ExecutionCompleted, events.ExecutionEndDetails{Result: res, DurationMS: 40}),
	}, nil, &persistence.StatusUpdate{Status: weft.StatusCompleted, Result: res, At: w.now})
}

// spaceTokens are the deltas of a token stream: short words, as models send.
var spaceTokens = strings.Fields("Looking at the candidates , the strongest match for a senior Go engineer is Ada : eight years of Go , distributed systems , and she led the migration to event sourcing . Next is Linus with")

// llmStep writes an execution of one LLM step streaming deltas, perWrite
// deltas per Write (what the actor merges while a commit is in flight).
func llmStep(tb testing.TB, w *spaceWriter, deltas, perWrite int) {
	w.create(tb, json.RawMessage(`{"user_query":"senior go engineer"}`))
	w.commit(tb, []events.Event{events.New(events.LLMStart, events.LLMDetails{StepID: "1", Provider: "openai", Model: "gpt-4o-mini"})}, nil, nil)
	var text strings.Builder
	for sent := 0; sent < deltas; {
		n := min(perWrite, deltas-sent)
		evs := make([]events.Event, n)
		for i := range evs {
			tok := spaceTokens[(sent+i)%len(spaceTokens)] + " "
			text.WriteString(tok)
			evs[i] = events.New(events.LLMDelta, events.LLMDetails{StepID: "1", Text: tok})
		}
		w.commit(tb, evs, nil, nil)
		sent += n
	}
	out, _ := json.Marshal(map[string]any{"text": text.String(), "model": "gpt-4o-mini"})
	began := w.now
	w.commit(tb, []events.Event{events.New(events.LLMEnd, events.LLMDetails{StepID: "1", Model: "gpt-4o-mini", Output: out,
		Usage: &events.Usage{PromptTokens: 120, CompletionTokens: deltas}, DurationMS: ms(time.Second)})},
		[]persistence.Step{{ID: "1", Kind: "llm", Name: "rank", Output: out, Attempts: 1, StartedAt: began, CompletedAt: w.now}}, nil)
}

// spaceStats reads the file's size and its pages in use. The store must be
// closed.
type spaceStats struct{ file, inuse int64 }

func measure(tb testing.TB, path string) spaceStats {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	// Not read-only: a read-only bbolt does not load the freelist, and
	// then reports no free pages.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var st spaceStats
	st.file = fi.Size()
	err = db.View(func(tx *bolt.Tx) error {
		free := db.Stats().FreePageN + db.Stats().PendingPageN
		st.inuse = tx.Size() - int64(free)*int64(db.Info().PageSize)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// fill writes n executions with write from par goroutines (so the writer
// batches them, as under load) and closes the store.
func fill(tb testing.TB, path string, n, par int, write func(tb testing.TB, w *spaceWriter)) (valueBytes int64) {
	tb.Helper()
	s, err := persistence.Open(path, persistence.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range par {
		wg.Go(func() {
			for i := range next {
				w := &spaceWriter{s: s, id: spaceExecID(i), wf: "countdown", now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second), tick: 1733 * time.Microsecond}
				write(tb, w)
				mu.Lock()
				valueBytes += w.val
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	return valueBytes
}

func report(b *testing.B, unit string, n int, st spaceStats, val int64) {
	b.ReportMetric(float64(st.inuse)/float64(n), "inuse-B/"+unit)
	b.ReportMetric(float64(st.file)/float64(n), "file-B/"+unit)
	b.ReportMetric(float64(val)/float64(n), "value-B/"+unit)
}

// BenchmarkSpaceExecution10Steps: disk bytes per 10-step execution.
func BenchmarkSpaceExecution10Steps(b *testing.B) {
	path := filepath.Join(b.TempDir(), "weft.db")
	val := fill(b, path, b.N, 16, tenSteps)
	report(b, "exec", b.N, measure(b, path), val)
}

// BenchmarkSpaceLLMStep: disk bytes per LLM step of 1,000 and 2,000 deltas,
// by how many deltas share a Write: 1 (a paced model: each token commits
// before the next arrives), 16, or the whole stream (a burst).
//
// pack=on stores the deltas as packed records (pack.go), pack=off one key
// per event, as weft did before.
func BenchmarkSpaceLLMStep(b *testing.B) {
	for _, pack := range []bool{false, true} {
		for _, deltas := range []int{1000, 2000} {
			for _, per := range []int{1, 16, deltas} {
				b.Run(fmt.Sprintf("pack=%v/deltas=%d/per_write=%d", pack, deltas, per), func(b *testing.B) {
					defer persistence.SetPackDeltas(pack)()
					spaceLLM(b, deltas, per)
				})
			}
		}
	}
}

func spaceLLM(b *testing.B, deltas, per int) {
	path := filepath.Join(b.TempDir(), "weft.db")
	val := fill(b, path, b.N, 8, func(tb testing.TB, w *spaceWriter) { llmStep(tb, w, deltas, per) })
	st := measure(b, path)
	report(b, "step", b.N, st, val)
	b.ReportMetric(float64(st.inuse)/float64(b.N*deltas), "inuse-B/delta")
}

// deleteExecutions removes executions straight from the bbolt file: the
// record, its log, steps and index entries (what Store.DeleteExecution
// does).
func deleteExecutions(tb testing.TB, path string, keep func(id string) bool) (deleted int) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		ex := tx.Bucket([]byte("executions"))
		var ids [][]byte
		_ = ex.ForEach(func(k, _ []byte) error {
			if !keep(string(k)) {
				ids = append(ids, bytes.Clone(k))
			}
			return nil
		})
		dead := map[string]bool{}
		for _, id := range ids {
			dead[string(id)] = true
			if err := ex.Delete(id); err != nil {
				return err
			}
			for _, b := range []string{"events", "steps"} {
				if err := tx.Bucket([]byte(b)).DeleteBucket(id); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
					return err
				}
			}
		}
		// Index keys end with the id (spaceExecID has a fixed length).
		idLen := len(spaceExecID(0))
		for _, name := range []string{"by_workspace", "by_status", "unfinished"} {
			bk := tx.Bucket([]byte(name))
			c := bk.Cursor()
			for k, _ := c.First(); k != nil; {
				if len(k) >= idLen && dead[string(k[len(k)-idLen:])] {
					if err := c.Delete(); err != nil {
						return err
					}
					k, _ = c.Seek(k) // Delete leaves the cursor before the next key
					continue
				}
				k, _ = c.Next()
			}
		}
		deleted = len(ids)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return deleted
}

// BenchmarkSpaceDelete90: 100,000 10-step executions, 90% deleted, then
// compacted. The file does not shrink on delete (bbolt keeps its pages
// free for reuse); bbolt.Compact (weft compact) gives the space back.
// Run with -benchtime 1x; skipped with -short.
func BenchmarkSpaceDelete90(b *testing.B) {
	if testing.Short() {
		b.Skip("writes 100,000 executions")
	}
	const n = 100_000
	for range b.N {
		dir := b.TempDir()
		path := filepath.Join(dir, "weft.db")
		start := time.Now()
		fill(b, path, n, 64, tenSteps)
		full := measure(b, path)
		b.Logf("filled in %v", time.Since(start).Round(time.Second))
		deleted := deleteExecutions(b, path, func(id string) bool {
			var i int
			_, _ = fmt.Sscanf(id[len(id)-15:], "%d", &i)
			return i%10 == 0
		})
		if deleted != n*9/10 {
			b.Fatalf("deleted %d", deleted)
		}
		afterDelete := measure(b, path)
		compacted := filepath.Join(dir, "compacted.db")
		src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		dst, err := bolt.Open(compacted, 0o600, &bolt.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := bolt.Compact(dst, src, 64<<20); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		_ = dst.Close()
		_ = src.Close()
		after := measure(b, compacted)
		b.Logf("100k x 10 steps: file %d B (in use %d); 90%% deleted: file %d B (in use %d); compacted in %v: file %d B (in use %d)",
			full.file, full.inuse, afterDelete.file, afterDelete.inuse, took.Round(time.Millisecond), after.file, after.inuse)
		b.ReportMetric(float64(full.file)/(1<<20), "full-MiB")
		b.ReportMetric(float64(afterDelete.file)/(1<<20), "deleted-MiB")
		b.ReportMetric(float64(after.file)/(1<<20), "compacted-MiB")
		b.ReportMetric(float64(full.inuse)/n, "inuse-B/exec")
		b.ReportMetric(took.Seconds(), "compact-s")
	}
}
