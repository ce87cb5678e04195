package persistence_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// Benchmarks run with fsync on: the point is durable writes per second. On
// a disk whose fsync takes ~1 ms, one write per transaction tops out near
// 1-2k/s; group commit should approach the raw baseline below.

// BenchmarkCommit measures durable Commits, each one event plus one step
// checkpoint (a step's end), from appenders goroutines on their own
// executions.
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{1, 256} {
		b.Run(fmt.Sprintf("appenders=%d", n), func(b *testing.B) {
			ctx := context.Background()
			var commits, writes atomic.Int64
			s, err := persistence.Open(filepath.Join(b.TempDir(), "bench.db"), persistence.Options{
				OnCommit: func(_ time.Duration, w int) { commits.Add(1); writes.Add(int64(w)) },
			})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for g := range n {
				create(b, s, newExec("ws", "wf", fmt.Sprintf("ex-%d", g), t0))
			}
			details := json.RawMessage(`{"step_id":"s","name":"fetch","attempt":1,"output":"` + strings.Repeat("x", 120) + `"}`)
			commits.Store(0)
			writes.Store(0)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := range n {
				wg.Go(func() {
					id := fmt.Sprintf("ex-%d", g)
					for seq := uint64(2); next.Add(1) <= int64(b.N); seq++ {
						e := events.Event{Type: events.TaskEnd, Data: events.Data{
							Timestamp: t0, ExecutionID: id, Workflow: "wf", Seq: seq, Details: details,
						}}
						st := persistence.Step{ID: fmt.Sprint(seq), Kind: "task", Name: "fetch",
							Output: json.RawMessage(`"ok"`), Attempts: 1, StartedAt: t0, CompletedAt: t0}
						if err := s.Commit(ctx, persistence.Write{ExecutionID: id, Events: []events.Event{e}, Steps: []persistence.Step{st}}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			if c := commits.Load(); c > 0 {
				b.ReportMetric(float64(writes.Load())/float64(c), "writes/commit")
			}
		})
	}
}

// BenchmarkRawBboltGroupCommit is the ceiling: the same group-commit loop
// with nothing around it (no validation, no JSON, no indexes), writers
// goroutines each putting a value and waiting for its fsync.
//
// writers=N puts a 200-byte value under a global sequential key: every
// write of a batch lands on the same few pages. writers=N,layout=store
// writes what BenchmarkCommit writes (a 350-byte event into the writer's own
// events/<id> bucket and a 120-byte step into steps/<id>): a batch then
// dirties a few pages per execution, which is the real cost of keeping each
// execution's log together, whatever code drives it.
func BenchmarkRawBboltGroupCommit(b *testing.B) {
	seqKeys := func(tx *bolt.Tx, _ int, i uint64) error {
		return tx.Bucket([]byte("flat")).Put(binary.BigEndian.AppendUint64(nil, i), make([]byte, 200))
	}
	storeLayout := func(tx *bolt.Tx, w int, i uint64) error {
		id := []byte(fmt.Sprint("ex-", w))
		log := tx.Bucket([]byte("events")).Bucket(id)
		log.FillPercent = 1
		if err := log.Put(binary.BigEndian.AppendUint64(nil, i), make([]byte, 350)); err != nil {
			return err
		}
		return tx.Bucket([]byte("steps")).Bucket(id).Put([]byte(fmt.Sprint(i)), make([]byte, 120))
	}
	// A durable step as weft records it: task_start and task_end (about
	// 250 and 300 bytes) and the step's checkpoint (about 150), the
	// same puts into the same buckets, in one write.
	stepLayout := func(tx *bolt.Tx, w int, i uint64) error {
		id := []byte(fmt.Sprint("ex-", w))
		log := tx.Bucket([]byte("events")).Bucket(id)
		log.FillPercent = 1
		if err := log.Put(binary.BigEndian.AppendUint64(nil, 2*i), make([]byte, 250)); err != nil {
			return err
		}
		if err := log.Put(binary.BigEndian.AppendUint64(nil, 2*i+1), make([]byte, 300)); err != nil {
			return err
		}
		return tx.Bucket([]byte("steps")).Bucket(id).Put([]byte(fmt.Sprint(i)), make([]byte, 150))
	}
	for _, bc := range []struct {
		name    string
		writers int
		put     func(tx *bolt.Tx, writer int, i uint64) error
	}{
		{"writers=1", 1, seqKeys},
		{"writers=256", 256, seqKeys},
		{"writers=256,layout=store", 256, storeLayout},
		{"writers=256,layout=step", 256, stepLayout},
	} {
		b.Run(bc.name, func(b *testing.B) { rawGroupCommit(b, bc.writers, bc.put) })
	}
}

func rawGroupCommit(b *testing.B, writers int, put func(tx *bolt.Tx, writer int, i uint64) error) {
	// Same bbolt options as Open, so only the code around bbolt differs.
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("flat")); err != nil {
			return err
		}
		for _, name := range []string{"events", "steps"} {
			parent, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for w := range writers {
				if _, err := parent.CreateBucket([]byte(fmt.Sprint("ex-", w))); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	type req struct {
		writer int
		i      uint64
		done   chan error
	}
	reqs := make(chan req, 1024)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		batch := make([]req, 0, 1024)
		for r := range reqs {
			batch = append(batch[:0], r)
		fill:
			for len(batch) < cap(batch) {
				select {
				case r, ok := <-reqs:
					if !ok {
						break fill
					}
					batch = append(batch, r)
				default:
					break fill
				}
			}
			err := db.Update(func(tx *bolt.Tx) error {
				for _, r := range batch {
					if err := put(tx, r.writer, r.i); err != nil {
						return err
					}
				}
				return nil
			})
			for _, r := range batch {
				r.done <- err
			}
		}
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range writers {
		wg.Go(func() {
			done := make(chan error, 1)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				reqs <- req{writer: w, i: uint64(i), done: done}
				if err := <-done; err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(reqs)
	<-writerDone
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
