package server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/workflows"
)

// firehose streams n deltas as fast as it can, counting how many it has
// handed to its step.
type firehose struct {
	n       int
	started chan struct{} // closed when streaming may begin
	handed  *atomic.Int64
}

func (firehose) Name() string { return "firehose" }

func (p firehose) Stream(ctx context.Context, _ workflows.LLMRequest, onDelta func(string)) (workflows.LLMResponse, error) {
	<-p.started
	for range p.n {
		if err := ctx.Err(); err != nil {
			return workflows.LLMResponse{}, err
		}
		onDelta("tok ")
		p.handed.Add(1)
	}
	return workflows.LLMResponse{Text: "done"}, nil
}

// A workflow that streams faster than the store commits waits for it: with
// the store stalled, it gets no further than the bound on uncommitted
// events, instead of piling them up in its actor's mailbox; once the store
// moves, every event is stored.
func TestEmitWaitsForASlowStore(t *testing.T) {
	const deltas = 20000
	var stalled atomic.Bool
	var handed atomic.Int64
	started := make(chan struct{})
	ts := bootServer(t, "", func(c *server.Config) {
		c.StoreWriteFault = func() error {
			for stalled.Load() { // a disk that takes its time
				time.Sleep(5 * time.Millisecond)
			}
			return nil
		}
	}, func(reg *workflows.Registry) {
		workflows.Register(reg, "firehose", func(ctx workflows.Context, _ struct{}) (int, error) {
			resp, err := workflows.LLMWith(ctx, firehose{n: deltas, started: started, handed: &handed}, "firehose", workflows.LLMRequest{})
			return len(resp.Text), err
		})
	})
	t.Cleanup(func() { stalled.Store(false) }) // before the server stops: its store must drain
	c := dial(t, ts, adminToken)
	f := c.call("s", "workflow.start", map[string]any{"name": "firehose", "parameters": map[string]any{}, "subscribe": false})
	if f.Error != nil {
		t.Fatal(f.Error)
	}
	id := decode[struct {
		ExecutionID string `json:"execution_id"`
	}](t, f.Response).ExecutionID

	stalled.Store(true)
	close(started)
	// Let the stream run into the bound, then check it stays there.
	var plateau int64
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		if n := handed.Load(); n == plateau && n > 0 {
			break
		} else {
			plateau = n
		}
	}
	const bound = 4096 + 16 // maxUncommittedEmits, and the writes in flight when the store stalled
	if n := handed.Load(); n > bound || n == 0 {
		t.Fatalf("with the store stalled the workflow emitted %d deltas, want it held at about %d", n, bound)
	}
	stalled.Store(false)
	waitStatus(t, c, id, "completed")
	frames := c.readUntilComplete(subscribeAll(t, c, id))
	if got := count(frames, "llm_delta"); got != deltas {
		t.Fatalf("%d llm_delta stored, want %d", got, deltas)
	}
	if !strings.HasPrefix(id, "exec_") {
		t.Fatalf("id %q", id)
	}
}
