package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weft-run/weft/server"
)

// A full disk is survived without a restart: while the store cannot
// write, /readyz answers 503 and starts get UNAVAILABLE saying the storage
// is full; the executions it stalled go on by themselves when space comes
// back, each step recorded once.
func TestFullDiskSurvivedWithoutRestart(t *testing.T) {
	var full atomic.Bool
	ts := bootServer(t, "", func(c *server.Config) {
		c.StoreWriteFault = func() error {
			if full.Load() {
				return fmt.Errorf("write weft.db: %w", syscall.ENOSPC)
			}
			return nil
		}
	})
	c := dial(t, ts, adminToken)
	const n, steps = 8, 30
	ids := make([]string, n)
	for i := range ids {
		f := c.call(fmt.Sprint("s", i), "workflow.start", map[string]any{
			"name": "countdown", "parameters": map[string]any{"steps": steps, "delay_ms": 10}, "subscribe": false,
		})
		if f.Error != nil {
			t.Fatal(f.Error)
		}
		ids[i] = decode[struct {
			ExecutionID string `json:"execution_id"`
		}](t, f.Response).ExecutionID
	}
	time.Sleep(100 * time.Millisecond) // some steps done, most to come
	full.Store(true)

	// The disk is full once the next commit tries it.
	deadline := time.Now().Add(5 * time.Second)
	for httpDo(t, ts, "GET", "/readyz", "", nil).status != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz stays ready on a full disk")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := httpDo(t, ts, "GET", "/readyz", "", nil); !strings.Contains(string(r.body), "no space left") {
		t.Fatalf("/readyz body %s should say why", r.body)
	}
	f := c.call("refused", "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{}, "subscribe": false})
	if f.Error == nil || f.Error.Code != "UNAVAILABLE" || !f.Error.Retryable || !strings.Contains(f.Error.Message, "storage is full") {
		t.Fatalf("start on a full disk: %+v, want retryable UNAVAILABLE saying the storage is full", f.Error)
	}
	time.Sleep(500 * time.Millisecond) // executions stall and retry meanwhile

	full.Store(false) // space comes back; nobody restarts anything
	for _, id := range ids {
		snap := waitStatus(t, c, id, "completed")
		if snap.Status != "completed" {
			t.Fatalf("%s: %s", id, snap.Status)
		}
		frames := c.readUntilComplete(subscribeAll(t, c, id))
		checkSeqs(t, frames[1:], 1)
		if got := count(frames, "task_end"); got != steps {
			t.Fatalf("%s: %d task_end, want %d (each step recorded once)", id, got, steps)
		}
	}
	if r := httpDo(t, ts, "GET", "/readyz", "", nil); r.status != http.StatusOK {
		t.Fatalf("/readyz after space came back: %d %s", r.status, r.body)
	}
	if f := c.call("after", "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{}, "subscribe": false}); f.Error != nil {
		t.Fatalf("start after space came back: %+v", f.Error)
	}
}

// subscribeAll subscribes to every event of an execution and returns the
// request id.
func subscribeAll(t *testing.T, c *client, id string) string {
	t.Helper()
	rid := "all-" + id
	c.request(rid, "execution.subscribe", map[string]any{"execution_id": id})
	return rid
}
