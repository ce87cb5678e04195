package server_test

import (
	"testing"
	"time"
)

// startCountdown starts countdown without subscribing and returns its id.
func startCountdown(t testing.TB, c *client, id string, steps, delayMS int) string {
	t.Helper()
	f := c.call(id, "workflow.start", map[string]any{
		"name": "countdown", "parameters": map[string]any{"steps": steps, "delay_ms": delayMS}, "subscribe": false,
	})
	if f.Error != nil || !f.Complete {
		t.Fatalf("start: %+v", f)
	}
	return decode[struct {
		ExecutionID string `json:"execution_id"`
	}](t, f.Response).ExecutionID
}

type subscribeResponse struct {
	ExecutionID string `json:"execution_id"`
	Status      string `json:"status"`
	LastSeq     uint64 `json:"last_seq"`
}

func TestSubscribeFromSecondConnectionMidRun(t *testing.T) {
	ts := startServer(t, "")
	starter := dial(t, ts, adminToken)
	execID := startCountdown(t, starter, "start", 20, 20)

	watcher := dial(t, ts, readerToken)
	// Wait until the run is under way, then subscribe after a seq that is
	// already stored: the stream must continue from there, no gap, no dup.
	var after uint64
	for after < 4 {
		time.Sleep(10 * time.Millisecond) // stay under the rate limit
		f := watcher.call("peek", "execution.get", map[string]any{"execution_id": execID})
		after = decode[subscribeResponse](t, f.Response).LastSeq
	}
	watcher.request("sub", "execution.subscribe", map[string]any{"execution_id": execID, "after_seq": after})
	frames := watcher.readUntilComplete("sub")
	resp := decode[subscribeResponse](t, frames[0].Response)
	if resp.ExecutionID != execID || resp.LastSeq < after || frames[0].Complete {
		t.Fatalf("subscribe response = %+v (complete %v)", resp, frames[0].Complete)
	}
	checkSeqs(t, frames, after+1)
	last := frames[len(frames)-1]
	if last.Type != "execution_completed" || !last.Complete {
		t.Fatalf("last frame = %s complete=%v", last.Type, last.Complete)
	}
	// 1 started + 1 workflow_start + 20*2 tasks + 2 ends.
	if got, want := last.event(t).Seq, uint64(44); got != want {
		t.Fatalf("last seq = %d, want %d", got, want)
	}
}

func TestSubscribeAfterCompletion(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	c.request("run", "workflow.start", map[string]any{"name": "echo", "parameters": map[string]any{"x": 1}})
	all := c.readUntilComplete("run")
	execID := all[1].event(t).ExecutionID
	total := uint64(len(all) - 1)

	for _, tc := range []struct {
		name  string
		after uint64
	}{
		{"from the start", 0},
		{"from the middle", 3},
		{"before the last", total - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames := c.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": execID, "after_seq": tc.after})
			resp := decode[subscribeResponse](t, frames[0].Response)
			if resp.Status != "completed" || resp.LastSeq != total || frames[0].Complete {
				t.Fatalf("response = %+v complete=%v", resp, frames[0].Complete)
			}
			if got, want := uint64(len(frames)-1), total-tc.after; got != want {
				t.Fatalf("got %d events, want %d", got, want)
			}
			checkSeqs(t, frames, tc.after+1)
			if !frames[len(frames)-1].Complete {
				t.Fatal("last event lacks complete:true")
			}
		})
	}
	t.Run("nothing left", func(t *testing.T) {
		f := c.call("sub", "execution.subscribe", map[string]any{"execution_id": execID, "after_seq": total})
		if f.Response == nil || !f.Complete {
			t.Fatalf("want one response with complete:true, got %+v", f)
		}
	})
	t.Run("flow carries the id", func(t *testing.T) {
		c.send(map[string]any{"id": "viaflow", "service": "execution.subscribe", "flow": execID, "request": map[string]any{"after_seq": total - 1}})
		frames := c.readUntilComplete("viaflow")
		if len(frames) != 2 || frames[1].Type != "execution_completed" {
			t.Fatalf("frames = %s", eventTypes(frames))
		}
	})
}

func (c *client) readUntilCompleteAfter(id, service string, req any) []frame {
	c.t.Helper()
	c.request(id, service, req)
	return c.readUntilComplete(id)
}

func TestUnsubscribeStopsTheStream(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)
	execID := startCountdown(t, c, "start", 50, 20)
	c.request("sub", "execution.subscribe", map[string]any{"execution_id": execID})
	if f := c.read(); f.ID != "sub" || f.Response == nil {
		t.Fatalf("want subscribe response, got %+v", f)
	}
	c.request("unsub", "execution.unsubscribe", map[string]any{"subscription": "sub"})
	for {
		f := c.read()
		if f.ID == "unsub" {
			if got := decode[map[string]bool](t, f.Response); !got["unsubscribed"] || !f.Complete {
				t.Fatalf("unsubscribe answer = %s", f.Response)
			}
			break
		}
	}
	// The id is free again, and nothing more arrives on the old stream:
	// a ping round trip proves the socket is drained in order.
	f := c.call("sub", "ping", nil)
	if f.Error != nil {
		t.Fatalf("reusing id after unsubscribe: %+v", f.Error)
	}
	c.request("p", "ping", nil)
	for {
		f := c.read()
		if f.ID == "p" {
			break
		}
		if f.ID == "sub" && f.Type != "" {
			t.Fatalf("event %s after unsubscribe", f.Type)
		}
	}
}
