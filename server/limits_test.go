package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/workflows"
)

// keyTracker records, per concurrency key, how many executions run at
// once (the most seen) and the order in which they started.
type keyTracker struct {
	mu      sync.Mutex
	now     map[string]int
	most    map[string]int
	started map[string][]int
}

func newKeyTracker() *keyTracker {
	return &keyTracker{now: map[string]int{}, most: map[string]int{}, started: map[string][]int{}}
}

type limitedIn struct {
	Org string `json:"org"`
	N   int    `json:"n"`
}

func (k *keyTracker) register(reg *workflows.Registry) {
	workflows.Register(reg, "limited", func(ctx workflows.Context, in limitedIn) (int, error) {
		return workflows.Task(ctx, "work", func(ctx context.Context) (int, error) {
			k.mu.Lock()
			k.now[in.Org]++
			k.most[in.Org] = max(k.most[in.Org], k.now[in.Org])
			k.started[in.Org] = append(k.started[in.Org], in.N)
			k.mu.Unlock()
			defer func() { k.mu.Lock(); k.now[in.Org]--; k.mu.Unlock() }()
			select {
			case <-time.After(60 * time.Millisecond):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			return in.N, nil
		})
	}, workflows.ConcurrencyKey("org", 2))
}

func TestPerKeyConcurrencyAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	track := newKeyTracker()
	ts := startServer(t, dir, track.register)
	c := dial(t, ts, adminToken)
	var ids []string
	queued := 0
	for i := range 10 {
		for _, org := range []string{"a", "b"} {
			time.Sleep(2 * time.Millisecond) // distinct creation times: FIFO is by creation
			f := c.call(fmt.Sprintf("%s%d", org, i), "workflow.start", map[string]any{
				"name": "limited", "parameters": limitedIn{Org: org, N: i}, "subscribe": false,
			})
			snap := decode[execSnapshot](t, f.Response)
			if snap.Status == "queued" {
				queued++
			}
			ids = append(ids, snap.ExecutionID)
		}
	}
	if queued < 10 {
		t.Fatalf("only %d of 20 starts were queued with 2 slots per key", queued)
	}
	list := c.call("q", "executions.list", map[string]any{"status": "queued"})
	if n := len(decode[struct {
		Items []execSnapshot `json:"items"`
	}](t, list.Response).Items); n == 0 {
		t.Fatal("queued executions are not listed")
	}
	// Restart while some are still queued.
	time.Sleep(100 * time.Millisecond)
	ts.stop(t)
	ts2 := startServer(t, dir, track.register)
	c2 := dial(t, ts2, adminToken)
	for _, id := range ids {
		waitStatus(t, c2, id, "completed")
	}
	track.mu.Lock()
	defer track.mu.Unlock()
	for _, org := range []string{"a", "b"} {
		if track.most[org] > 2 {
			t.Fatalf("key %s had %d running at once, limit 2", org, track.most[org])
		}
		// FIFO per key: each execution's first start in creation order (a
		// step cut by the restart may start again: ignore repeats).
		seen, order := map[int]bool{}, []int{}
		for _, n := range track.started[org] {
			if !seen[n] {
				seen[n] = true
				order = append(order, n)
			}
		}
		// With 2 slots two admitted executions may start in either
		// order, but none may overtake one admitted two places ahead.
		if len(order) != 10 {
			t.Fatalf("key %s: %d executions started, want 10", org, len(order))
		}
		for pos, n := range order {
			for _, later := range order[pos+1:] {
				if later < n-1 {
					t.Fatalf("key %s started in order %v: %d overtook %d", org, order, n, later)
				}
			}
		}
	}
}

func TestQueuedExecutionCanBeCancelled(t *testing.T) {
	ts := startServer(t, "", func(reg *workflows.Registry) {
		workflows.Register(reg, "single", func(ctx workflows.Context, _ struct{}) (string, error) {
			return workflows.WaitSignal[string](ctx, "go", 0)
		}, workflows.MaxConcurrent(1))
	})
	c := dial(t, ts, adminToken)
	start := func(id string) execSnapshot {
		return decode[execSnapshot](t, c.call(id, "workflow.start", map[string]any{"name": "single", "subscribe": false}).Response)
	}
	first, second, third := start("1"), start("2"), start("3")
	if first.Status != "running" || second.Status != "queued" || third.Status != "queued" {
		t.Fatalf("statuses %s %s %s", first.Status, second.Status, third.Status)
	}
	f := c.call("c", "execution.cancel", map[string]any{"execution_id": second.ExecutionID})
	if f.Error != nil {
		t.Fatal(f.Error)
	}
	waitStatus(t, c, second.ExecutionID, "cancelled")
	frames := c.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": second.ExecutionID})
	if got := eventTypes(frames); got != "execution_started,execution_cancelled" {
		t.Fatalf("a cancelled queued execution emitted %s", got)
	}
	// Finishing the first admits the third, not the cancelled second.
	c.call("s", "execution.signal", map[string]any{"execution_id": first.ExecutionID, "name": "go", "payload": "ok"})
	waitStatus(t, c, first.ExecutionID, "completed")
	waitStatus(t, c, third.ExecutionID, "waiting")
}

func TestStartRateLimit(t *testing.T) {
	ts := startServer(t, "", func(reg *workflows.Registry) {
		workflows.Register(reg, "paced", func(ctx workflows.Context, _ struct{}) (int, error) { return 1, nil },
			workflows.MaxStartsPerSecond(5))
	})
	c := dial(t, ts, adminToken)
	var ids []string
	queued := 0
	for i := range 12 {
		f := c.call(fmt.Sprint("p", i), "workflow.start", map[string]any{"name": "paced", "subscribe": false})
		snap := decode[execSnapshot](t, f.Response)
		ids = append(ids, snap.ExecutionID)
		if snap.Status == "queued" {
			queued++
		}
	}
	if queued == 0 {
		t.Fatal("12 immediate starts at 5/s: none queued")
	}
	for _, id := range ids {
		waitStatus(t, c, id, "completed")
	}
}
