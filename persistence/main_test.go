package persistence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is a fixed UTC instant: records read back through JSON compare equal
// with reflect.DeepEqual only without a monotonic reading or a local zone.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func openStore(t testing.TB, opts persistence.Options) (*persistence.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "weft.db")
	s, err := persistence.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func newExec(ws, wf, id string, created time.Time) persistence.Execution {
	return persistence.Execution{
		ID: id, Workspace: ws, Workflow: wf,
		Status:     weft.StatusRunning,
		Parameters: json.RawMessage(`{"x":1}`),
		Metadata:   json.RawMessage(`{}`),
		StartedBy:  "key:test",
		CreatedAt:  created,
		UpdatedAt:  created,
	}
}

func ev(id string, seq uint64, typ events.Type) events.Event {
	return events.Event{Type: typ, Data: events.Data{
		Timestamp:   t0.Add(time.Duration(seq) * time.Millisecond),
		ExecutionID: id,
		Workflow:    "wf",
		Seq:         seq,
		Details:     json.RawMessage(fmt.Sprintf(`{"n":%d}`, seq)),
	}}
}

func evs(id string, from, to uint64) []events.Event {
	var out []events.Event
	for s := from; s <= to; s++ {
		out = append(out, ev(id, s, events.TaskEnd))
	}
	return out
}

func create(t testing.TB, s *persistence.Store, e persistence.Execution) {
	t.Helper()
	existing, err := s.CreateExecution(context.Background(), e, ev(e.ID, 1, events.ExecutionStarted))
	if err != nil || existing != nil {
		t.Fatalf("CreateExecution(%s) = %v, %v; want nil, nil", e.ID, existing, err)
	}
}

func commit(t testing.TB, s *persistence.Store, w persistence.Write) {
	t.Helper()
	if err := s.Commit(context.Background(), w); err != nil {
		t.Fatalf("Commit(%s): %v", w.ExecutionID, err)
	}
}

// blockWriter parks the writer goroutine inside a done callback, so the
// writes queued meanwhile are drained into one batch when release is called.
func blockWriter(t *testing.T, s *persistence.Store) (release func()) {
	t.Helper()
	gate, entered := make(chan struct{}), make(chan struct{})
	s.CommitAsync(persistence.Write{ExecutionID: "blocker-does-not-exist"}, func(error) {
		close(entered)
		<-gate
	})
	<-entered
	release = sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release)
	return release
}

// waitQueued waits until n writes are queued behind a blocked writer.
func waitQueued(t *testing.T, s *persistence.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for persistence.QueueLen(s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("queue has %d writes, want %d", persistence.QueueLen(s), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// batches records the size of every commit.
type batches struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batches) hook(_ time.Duration, n int) {
	b.mu.Lock()
	b.sizes = append(b.sizes, n)
	b.mu.Unlock()
}

func (b *batches) has(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.sizes {
		if s == n {
			return true
		}
	}
	return false
}
