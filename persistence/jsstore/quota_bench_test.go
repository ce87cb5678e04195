package jsstore_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence/jsstore"
)

// BenchmarkQuotaCounter weighs a cluster-wide unfinished-executions quota
// kept as a counter in a KV bucket (compare-and-set on one key per
// workspace, raised by each start and lowered by each end) against what a
// start costs already, on a 3-server R3 cluster, 16 starters at once:
//
//	go test -run '^$' -bench QuotaCounter -benchtime 2000x ./persistence/jsstore/
//
// "create" is one start's store work (CreateExecution); "counter" one
// raise of the shared counter (read, then update at that revision, again
// on a lost race), with lost rounds per raise reported.
func BenchmarkQuotaCounter(b *testing.B) {
	nodes := natstest.Cluster(b, 3)
	nc := natstest.Connect(b, natstest.URLs(nodes))
	b.Run("create", func(b *testing.B) {
		s, err := jsstore.Open(b.Context(), nc, jsstore.Options{Prefix: "QB", Replicas: 3})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		var n atomic.Int64
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := fmt.Sprintf("exec_%d", n.Add(1))
				first := events.Event{Type: events.ExecutionStarted, Data: events.Data{ExecutionID: id, Workflow: "wf", Seq: 1}}
				if _, err := s.CreateExecution(b.Context(), newExec(id), first); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("counter", func(b *testing.B) {
		js, err := jetstream.New(nc)
		if err != nil {
			b.Fatal(err)
		}
		kv, err := js.CreateKeyValue(b.Context(), jetstream.KeyValueConfig{Bucket: "QUOTA_BENCH", Replicas: 3})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kv.Put(b.Context(), "acme", binary.AppendUvarint(nil, 0)); err != nil {
			b.Fatal(err)
		}
		var lost atomic.Int64
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				for {
					e, err := kv.Get(b.Context(), "acme")
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := binary.Uvarint(e.Value())
					_, err = kv.Update(b.Context(), "acme", binary.AppendUvarint(nil, n+1), e.Revision())
					if err == nil {
						break
					}
					var apiErr *jetstream.APIError
					if !errors.As(err, &apiErr) {
						b.Error(err)
						return
					}
					lost.Add(1)
				}
			}
		})
		b.ReportMetric(float64(lost.Load())/float64(b.N), "lost/op")
	})
}
