package jsstore_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/persistence/jsstore"
	"github.com/weft-run/weft/persistence/storetest"
)

// BenchmarkDurableSteps compares the stores in one run: durable steps/s
// (task_start, then task_end with its checkpoint) for 1 and 256
// executions at once.
//
//	go test -run '^$' -bench DurableSteps -benchtime 20000x ./persistence/jsstore/
//
// bbolt fsyncs each group commit. JetStream R1 is one embedded server on
// the same machine with its default sync (an acknowledged message is
// written, fsynced within two minutes): durability comes from replicas,
// which R1 has not; "sync-always" fsyncs every message before the ack.
func BenchmarkDurableSteps(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) storetest.Store
	}{
		{"bbolt", func(b *testing.B) storetest.Store {
			s, err := persistence.Open(filepath.Join(b.TempDir(), "weft.db"), persistence.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"jetstream-R1", func(b *testing.B) storetest.Store { return benchJetStream(b) }},
		{"jetstream-R1-sync-always", func(b *testing.B) storetest.Store { return benchJetStream(b, natstest.SyncAlways) }},
	}
	for _, executions := range []int{1, 256} {
		for _, st := range stores {
			b.Run(fmt.Sprintf("executions=%d/store=%s", executions, st.name), func(b *testing.B) {
				storetest.BenchSteps(b, st.open(b), executions)
			})
		}
	}
}

func benchJetStream(b *testing.B, opts ...natstest.Option) *jsstore.Store {
	nc := natstest.Connect(b, natstest.Server(b, opts...).URL())
	s, err := jsstore.Open(b.Context(), nc, jsstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}
