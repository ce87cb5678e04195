package jsstore_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/persistence/jsstore"
	"github.com/weft-run/weft/persistence/storetest"
)

var _ storetest.AuditStore = (*jsstore.Store)(nil)

func TestAuditConformance(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).URL())
	storetest.RunAudit(t, func(t *testing.T) storetest.AuditStore { return openStore(t, nc, jsstore.Options{}) })
}

// Close waits for the records in flight; a record appended after Close
// is refused.
func TestAuditClose(t *testing.T) {
	s := openStore(t, natstest.Connect(t, natstest.Server(t).URL()), jsstore.Options{})
	const n = 50
	var stored atomic.Int64
	for i := range n {
		s.AppendAudit(persistence.AuditRecord{Workspace: "ws", Action: "a", Target: fmt.Sprint(i)}, func(err error) {
			if err == nil {
				stored.Add(1)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if stored.Load() != n {
		t.Fatalf("Close returned with %d of %d records stored", stored.Load(), n)
	}
	done := make(chan error, 1)
	s.AppendAudit(persistence.AuditRecord{Workspace: "ws", Action: "a"}, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, persistence.ErrClosed) {
		t.Fatalf("AppendAudit after Close = %v, want ErrClosed", err)
	}
	if _, err := s.ListAudit(t.Context(), persistence.AuditFilter{Workspace: "ws"}); !errors.Is(err, persistence.ErrClosed) {
		t.Fatalf("ListAudit after Close = %v, want ErrClosed", err)
	}
}
