package server_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/transport/ws"
)

// BenchmarkSubscriptionMemory measures what one open subscription costs the
// server: b.N execution.subscribe requests on one socket, all following an
// execution that waits for a signal, and the growth of heap plus goroutine
// stacks divided by b.N. Client and server share the process, so the
// client's side (one socket) is included; it does not grow with b.N.
//
//	go test -run '^$' -bench SubscriptionMemory -benchtime 1500x ./server/
func BenchmarkSubscriptionMemory(b *testing.B) {
	ts := bootServer(b, "", func(c *server.Config) {
		c.Socket = ws.Config{MessagesPerSecond: 1e6, MaxInflight: 1 << 20}
	})
	c := dial(b, ts, adminToken)
	res := decode[struct {
		ExecutionID string `json:"execution_id"`
	}](b, c.call("start", "workflow.start", map[string]any{
		"name": "approval", "parameters": map[string]any{}, "subscribe": false,
	}).Response)
	waitStatus(b, c, res.ExecutionID, "waiting")

	before := usedMemory()
	b.ResetTimer()
	for i := range b.N {
		c.request(fmt.Sprint("sub", i), "execution.subscribe", map[string]any{"execution_id": res.ExecutionID, "after_seq": 1 << 40})
	}
	for range b.N {
		if f := c.read(); f.Error != nil {
			b.Fatalf("subscribe: %s %s", f.Error.Code, f.Error.Message)
		}
	}
	b.StopTimer()
	after := usedMemory()
	b.ReportMetric(float64(after-before)/float64(b.N), "B/subscription")
}

// usedMemory is live heap plus goroutine stacks, after a collection.
func usedMemory() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}
