package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"
)

// StreamOptions configure the stream scenario.
type StreamOptions struct {
	Events     int // llm_delta events in the execution
	ChunkBytes int
}

// Stream starts one execution of the `stream` workflow on one socket and
// measures how fast its llm_delta events arrive, and the delay from each
// event's server timestamp (taken when it was sequenced, before the fsync)
// to its arrival.
//
// The socket is read here, in one goroutine, and each event frame is
// parsed only as far as the figures need (its type, timestamp and whether
// it completes the stream): the load tool shares the machine's cores with
// the server, and a full JSON decode per event cost about as much as the
// server's whole path.
func Stream(ctx context.Context, t Target, o StreamOptions, progress Progress) (Report, error) {
	if err := t.CheckLoopback(); err != nil {
		return Report{}, err
	}
	c, err := dial(t)
	if err != nil {
		return Report{}, err
	}
	defer c.close()
	delivery := newLatency()
	began := time.Now()
	err = c.ws.WriteJSON(map[string]any{"id": "stream", "service": "workflow.start",
		"request": startRequest("stream", map[string]int{"chunks": o.Events, "chunk_bytes": o.ChunkBytes}, t.Metadata)})
	if err != nil {
		return Report{}, err
	}
	var deltas atomic.Int64
	stop := tick(progress, func() string { return fmt.Sprintf("%d of %d deltas", deltas.Load(), o.Events) })
	defer stop()
	// Closing the socket is how ctx or the deadline ends the read loop.
	deadline := time.AfterFunc(2*time.Minute, c.close)
	defer deadline.Stop()
	cancel := context.AfterFunc(ctx, c.close)
	defer cancel()

	var firstDelta, lastDelta time.Time
	for {
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return Report{}, ctx.Err()
			}
			return Report{}, fmt.Errorf("socket closed before the stream completed: %w", err)
		}
		f, err := parseStreamFrame(raw)
		if err != nil {
			return Report{}, err
		}
		if f.delta {
			now := time.Now()
			if deltas.Load() == 0 {
				firstDelta = now
			}
			lastDelta = now
			deltas.Add(1)
			delivery.record(now.Sub(f.timestamp))
		}
		if f.complete {
			window := lastDelta.Sub(firstDelta).Seconds()
			n := float64(deltas.Load())
			return Report{
				Scenario: "stream",
				Params:   map[string]any{"events": o.Events, "chunk_bytes": o.ChunkBytes},
				Elapsed:  time.Since(began),
				Figures: map[string]float64{
					"deltas_received":   n,
					"deltas_per_second": n / max(window, 1e-9),
				},
				Latencies: map[string]Summary{"event_to_socket": delivery.summary()},
			}, nil
		}
	}
}

// streamFrame is what Stream needs of a frame.
type streamFrame struct {
	delta     bool
	timestamp time.Time
	complete  bool
}

var (
	deltaType     = []byte(`"type":"llm_delta","data":{"timestamp":"`)
	completeField = []byte(`"complete":true}`)
)

// parseStreamFrame reads an llm_delta frame by its fixed layout (weft
// frames an event as the request id spliced into its stored bytes) and
// decodes anything else in full.
func parseStreamFrame(raw []byte) (streamFrame, error) {
	if i := bytes.Index(raw, deltaType); i >= 0 && i < 64 {
		rest := raw[i+len(deltaType):]
		if end := bytes.IndexByte(rest, '"'); end > 0 {
			if ts, err := time.Parse(time.RFC3339Nano, string(rest[:end])); err == nil {
				return streamFrame{delta: true, timestamp: ts, complete: bytes.HasSuffix(raw, completeField)}, nil
			}
		}
	}
	var f frame
	if err := json.Unmarshal(raw, &f); err != nil {
		return streamFrame{}, fmt.Errorf("frame %.80q: %w", raw, err)
	}
	if f.Error != nil {
		return streamFrame{}, fmt.Errorf("%s: %s", f.Error.Code, f.Error.Message)
	}
	return streamFrame{delta: f.Type == "llm_delta", timestamp: f.Data.Timestamp, complete: f.Complete}, nil
}
