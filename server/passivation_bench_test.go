package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

var benchWho = weft.Identity{Name: "bench", Workspace: "bench", Scopes: []weft.Scope{weft.ScopeAdmin}}

// startMany starts n executions of name with params from 64 goroutines
// (fsync on: their creates share group commits).
func startMany(b *testing.B, ts *testServer, n int, name string, params func(i int) json.RawMessage) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if _, err := ts.Service().Start(context.Background(), benchWho, actors.StartRequest{Name: name, Parameters: params(i)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// waitGaugeFor polls a gauge until it reaches want, for at most d.
func waitGaugeFor(b *testing.B, ts *testServer, name string, want float64, d time.Duration) {
	b.Helper()
	deadline := time.Now().Add(d)
	for gauge(b, ts, name) != want {
		if time.Now().After(deadline) {
			b.Fatalf("%s = %v, want %v", name, gauge(b, ts, name), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rss is the process's anonymous resident memory (Linux; 0 elsewhere):
// RssAnon, without the store's memory-mapped file pages (RssFile), which
// are page cache the kernel reclaims.
func rss() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkSleepingExecutionMemory measures what a sleeping execution
// costs once passivated: b.N nap executions sleeping a year, started with
// fsync on, waited until every one is passivated (its actor stopped: a
// wake-heap entry is all that stays), then the growth of heap plus
// goroutine stacks after a collection, per execution, and that times
// 1,000,000. The store's file size per execution is what it holds on disk.
//
//	go test -run '^$' -bench SleepingExecutionMemory -benchtime 20000x ./server/
func BenchmarkSleepingExecutionMemory(b *testing.B) {
	ts := bootServer(b, "", func(c *server.Config) { c.PassivateAfter = 100 * time.Millisecond })
	params := json.RawMessage(`{"seconds":31536000}`)
	if os.Getenv("WEFT_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 256
	}
	before, rssBefore := usedMemory(), rss()
	b.ResetTimer()
	startMany(b, ts, b.N, "nap", func(int) json.RawMessage { return params })
	waitGaugeFor(b, ts, "weft_executions_passivated", float64(b.N), 2*time.Minute)
	b.StopTimer()
	after, rssAfter := usedMemory(), rss()
	if path := os.Getenv("WEFT_HEAP_PROFILE"); path != "" { // what stays: go tool pprof -sample_index=inuse_space
		if f, err := os.Create(path); err == nil {
			_ = pprof.WriteHeapProfile(f)
			_ = f.Close()
		}
	}
	perExec := float64(after-before) / float64(b.N)
	b.ReportMetric(perExec, "B/execution")
	b.ReportMetric(perExec*1e6/(1<<20), "MB/1M-executions")
	b.ReportMetric(float64(rssAfter-rssBefore)/float64(b.N), "RssAnon-B/execution")
	if st, err := os.Stat(filepath.Join(ts.dir, "weft.db")); err == nil {
		b.ReportMetric(float64(st.Size())/float64(b.N), "disk-B/execution")
	}
}

type wakeIn struct {
	At int64 `json:"at"` // unix ms
}

// BenchmarkWakeDue measures waking b.N passivated executions due at the
// same instant: each sleeps until one shared time, passivated meanwhile;
// from that time, how long until each one has been spawned again, has
// replayed its history and has committed (fsync on) the end of its sleep:
// its workflow code runs again. Reports p50, p99 and max over the
// executions.
//
//	go test -run '^$' -bench WakeDue -benchtime 10000x -timeout 30m ./server/
func BenchmarkWakeDue(b *testing.B) {
	var mu sync.Mutex
	var lat []time.Duration
	ts := bootServer(b, "", func(c *server.Config) { c.PassivateAfter = 100 * time.Millisecond }, func(reg *workflows.Registry) {
		workflows.Register(reg, "bench-wake", func(ctx workflows.Context, in wakeIn) (int, error) {
			at := time.UnixMilli(in.At)
			if err := workflows.Sleep(ctx, time.Until(at)); err != nil {
				return 0, err
			}
			// Woken: the sleep's end is committed (with the status
			// "running"), and the run goes on.
			d := time.Since(at)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			return 1, nil
		})
	})
	// Starting takes about 0.5 ms per execution with fsync on; leave room.
	at := time.Now().Add(10*time.Second + time.Duration(b.N)*time.Millisecond).Truncate(time.Second)
	params, _ := json.Marshal(wakeIn{At: at.UnixMilli()})
	startMany(b, ts, b.N, "bench-wake", func(int) json.RawMessage { return params })
	waitGaugeFor(b, ts, "weft_executions_passivated", float64(b.N), time.Until(at))
	if gauge(b, ts, "weft_execution_actors") != 0 {
		b.Fatalf("actors still live before the wake")
	}
	b.ResetTimer()
	deadline := at.Add(2 * time.Minute)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d woke", n, b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	mu.Lock()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
	mu.Unlock()
	runtime.GC()
	_ = fmt.Sprint()
}
