package client_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/weft-run/weft/client"
	"github.com/weft-run/weft/server"
)

// TestStreamReplay: Stream hands every frame of execution.replay to fn in
// order, the raw data of each event kept, and returns nil after the frame
// marked complete.
func TestStreamReplay(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	c := dial(t, ts.url(), client.Options{})
	exec, err := c.Start(ctx, "countdown", map[string]int{"steps": 3, "delay_ms": 1})
	if err != nil {
		t.Fatal(err)
	}
	want := collect(t, exec)
	if exec.Status() == "" {
		t.Errorf("Status() after the start is empty")
	}

	var got []client.Event
	err = c.Stream(ctx, "execution.replay", map[string]any{"execution_id": exec.ID()}, func(f client.Frame) error {
		if f.Event == nil {
			return nil
		}
		if f.Complete != (len(got) == len(want)-1) {
			t.Errorf("event %d (%s): complete %v", f.Event.Seq, f.Event.Type, f.Complete)
		}
		got = append(got, *f.Event)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, got, "execution_completed")
	if len(got) != len(want) {
		t.Fatalf("replayed %d events, want %d", len(got), len(want))
	}
	for i, ev := range got {
		var data struct {
			Seq    uint64 `json:"seq"`
			Replay bool   `json:"replay"`
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil || data.Seq != ev.Seq || !data.Replay || !ev.Replay {
			t.Errorf("event %d: data %s (%v)", i, ev.Data, err)
		}
		if ev.Type != want[i].Type || !strings.Contains(string(want[i].Data), `"seq":`) {
			t.Errorf("event %d: %s, want %s (live data %s)", i, ev.Type, want[i].Type, want[i].Data)
		}
	}
}

// TestStreamErrors: an error frame ends Stream with the *Error; fn's error
// ends it with that error, and the client goes on working.
func TestStreamErrors(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	c := dial(t, ts.url(), client.Options{})
	err := c.Stream(ctx, "execution.replay", map[string]any{"execution_id": "exec_nope"}, func(client.Frame) error { return nil })
	if client.ErrorCode(err) != client.CodeExecutionNotFound {
		t.Errorf("replay of an unknown execution: %v", err)
	}

	errEnough := errors.New("enough")
	frames := 0
	err = c.Stream(ctx, "workflow.start", map[string]any{"name": "countdown", "parameters": map[string]int{"steps": 1000, "delay_ms": 10}},
		func(f client.Frame) error {
			frames++
			if frames == 3 {
				return errEnough
			}
			return nil
		})
	if !errors.Is(err, errEnough) || frames != 3 {
		t.Errorf("Stream = %v after %d frames, want errEnough after 3", err, frames)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("ping after a stream was left: %v", err)
	}
}

// TestStreamEndsOnDrop: a stream is not resumed by the client: a cut
// connection ends it with a retryable UNAVAILABLE.
func TestStreamEndsOnDrop(t *testing.T) {
	ts := startServer(t, "", "")
	p := newProxy(t, ts.Addr())
	ctx := testCtx(t)
	c := dial(t, p.url(), client.Options{})
	err := c.Stream(ctx, "workflow.start", map[string]any{"name": "countdown", "parameters": map[string]int{"steps": 1000, "delay_ms": 10}},
		func(f client.Frame) error {
			if f.Event != nil && f.Event.Seq == 3 {
				p.cut()
			}
			return nil
		})
	if client.ErrorCode(err) != client.CodeUnavailable || !client.IsRetryable(err) {
		t.Errorf("Stream across a cut: %v, want a retryable UNAVAILABLE", err)
	}
}

// TestServerInfoLimits: ServerInfo reports the rate the server holds each
// connection to, as does the connected frame.
func TestServerInfoLimits(t *testing.T) {
	ts := startServerWith(t, "", "", func(cfg *server.Config) { cfg.Socket.MessagesPerSecond = 12.5 })
	c := dial(t, ts.url(), client.Options{})
	info, err := c.ServerInfo(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "weft" || info.Protocol != "weft.v1" || info.Limits.MessagesPerSecond != 12.5 || info.Limits.MaxMessageBytes <= 0 {
		t.Errorf("server info %+v", info)
	}
	if got := c.Info().Limits.MessagesPerSecond; got != 12.5 {
		t.Errorf("connected frame's rate %v, want 12.5", got)
	}
}
