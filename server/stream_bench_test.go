package server_test

import (
	"testing"
	"time"
)

// BenchmarkStreamToSocket measures execution events delivered to one
// socket: a `stream` execution emits b.N llm_delta events through the whole
// path (execution actor, group commit, bus, subscription, outbox, socket)
// and one client reads them.
//
//	go test -run '^$' -bench StreamToSocket -benchtime 50000x ./server/
func BenchmarkStreamToSocket(b *testing.B) {
	ts := startServer(b, "")
	c := dial(b, ts, adminToken)
	b.ResetTimer()
	c.request("s", "workflow.start", map[string]any{"name": "stream", "parameters": map[string]int{"chunks": b.N}})
	deltas, latency := 0, time.Duration(0)
	for {
		f := c.read()
		if f.Type == "llm_delta" {
			deltas++
			latency += time.Since(f.event(b).Timestamp)
		}
		if f.Complete {
			break
		}
	}
	b.StopTimer()
	if deltas != b.N {
		b.Fatalf("got %d deltas, want %d", deltas, b.N)
	}
	b.ReportMetric(float64(deltas)/b.Elapsed().Seconds(), "events/s")
}
