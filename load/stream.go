package load

import (
	"context"
	"fmt"
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
func Stream(ctx context.Context, t Target, o StreamOptions, progress Progress) (Report, error) {
	if err := t.CheckLoopback(); err != nil {
		return Report{}, err
	}
	c, err := dial(t)
	if err != nil {
		return Report{}, err
	}
	defer c.close()
	c.run()
	delivery := newLatency()
	began := time.Now()
	ch, err := c.request("stream", "workflow.start", map[string]any{
		"name": "stream", "parameters": map[string]int{"chunks": o.Events, "chunk_bytes": o.ChunkBytes},
	})
	if err != nil {
		return Report{}, err
	}
	var deltas int64
	var firstDelta, lastDelta time.Time
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	stop := tick(progress, func() string { return fmt.Sprintf("%d of %d deltas", deltas, o.Events) })
	defer stop()
	for {
		select {
		case f := <-ch:
			if f.Error != nil {
				return Report{}, fmt.Errorf("%s: %s", f.Error.Code, f.Error.Message)
			}
			if f.Type == "llm_delta" {
				now := time.Now()
				if deltas == 0 {
					firstDelta = now
				}
				lastDelta = now
				deltas++
				delivery.record(now.Sub(f.Data.Timestamp))
			}
			if f.Complete {
				window := lastDelta.Sub(firstDelta).Seconds()
				return Report{
					Scenario: "stream",
					Params:   map[string]any{"events": o.Events, "chunk_bytes": o.ChunkBytes},
					Elapsed:  time.Since(began),
					Figures: map[string]float64{
						"deltas_received":   float64(deltas),
						"deltas_per_second": float64(deltas) / max(window, 1e-9),
					},
					Latencies: map[string]Summary{"event_to_socket": delivery.summary()},
				}, nil
			}
		case <-c.done:
			return Report{}, fmt.Errorf("socket closed: %v", c.err)
		case <-timeout.C:
			return Report{}, fmt.Errorf("stream did not complete within 2 minutes")
		case <-ctx.Done():
			return Report{}, ctx.Err()
		}
	}
}
