package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// Store is the execution core of weft's store: what the actors use to
// create executions, append their events and checkpoints, deliver
// signals, list, resume and delete them. The signatures are those of
// *persistence.Store.
type Store interface {
	CreateExecution(ctx context.Context, exec persistence.Execution, first events.Event) (existing *persistence.Execution, err error)
	ExecutionByIdempotencyKey(ctx context.Context, ws, workflow, key string) (string, bool, error)
	Execution(ctx context.Context, id string) (persistence.Execution, error)

	Commit(ctx context.Context, w persistence.Write) error
	CommitAsync(w persistence.Write, done func(error))

	Events(ctx context.Context, id string, afterSeq uint64, limit int) ([]events.Event, error)
	StoredEvents(ctx context.Context, id string, afterSeq uint64, limit int) ([]events.Stored, error)
	Steps(ctx context.Context, id string) (map[string]persistence.Step, error)

	AddSignal(ctx context.Context, executionID, name string, payload json.RawMessage, maxPending int) (persistence.Signal, error)
	Signals(ctx context.Context, executionID string) ([]persistence.Signal, error)

	List(ctx context.Context, f persistence.ListFilter) (items []persistence.Execution, nextCursor string, err error)
	Unfinished(ctx context.Context) ([]persistence.Execution, error)
	WaitingIndex(ctx context.Context) (map[string]time.Time, error)

	DeleteExecution(ctx context.Context, ws, id string) (persistence.Execution, error)
	Close() error
}

var _ Store = (*persistence.Store)(nil)

// Option narrows a Run.
type Option func(*config)

type config struct {
	only map[string]bool
}

// Only runs just the named groups of subtests (the names Run passes to
// t.Run, e.g. "Create", "Append"), for a slow backend such as a
// replicated cluster.
func Only(groups ...string) Option {
	return func(c *config) {
		c.only = map[string]bool{}
		for _, g := range groups {
			c.only[g] = true
		}
	}
}

// group is one subtest group: a name for Only and its cases.
type group struct {
	name  string
	cases []testCase
}

type testCase struct {
	name string
	fn   func(t *testing.T, s Store)
}

// Groups lists the subtest groups Run knows, for Only.
func Groups() []string {
	var names []string
	for _, g := range groups() {
		names = append(names, g.name)
	}
	return names
}

func groups() []group {
	return []group{
		{"Create", createCases},
		{"Idempotency", idempotencyCases},
		{"Append", appendCases},
		{"Read", readCases},
		{"Signals", signalCases},
		{"Status", statusCases},
		{"List", listCases},
		{"Delete", deleteCases},
		{"Close", closeCases},
	}
}

// Run runs the conformance suite: every case on a fresh store from open,
// which should register the store's cleanup with t.
func Run(t *testing.T, open func(t *testing.T) Store, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	for _, g := range groups() {
		if c.only != nil && !c.only[g.name] {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.cases {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
			}
		})
	}
}

// t0 is a fixed UTC instant: records read back through JSON compare equal
// only without a monotonic reading or a local zone.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newExec(ws, wf, id string, created time.Time) persistence.Execution {
	return persistence.Execution{
		ID: id, Workspace: ws, Workflow: wf,
		Status:     weft.StatusRunning,
		Parameters: json.RawMessage(`{"x":1}`),
		Metadata:   json.RawMessage(`{"who":"storetest"}`),
		StartedBy:  "key:test",
		Version:    "v1",
		CreatedAt:  created,
		UpdatedAt:  created,
	}
}

// event is event seq of execution id, with details that name it so a
// mixed-up log shows.
func event(id string, seq uint64, typ events.Type) events.Event {
	return events.Event{Type: typ, Data: events.Data{
		Timestamp:   t0.Add(time.Duration(seq) * time.Millisecond),
		ExecutionID: id,
		Workflow:    "wf",
		Seq:         seq,
		Details:     json.RawMessage(fmt.Sprintf(`{"n":%d,"of":%q}`, seq, id)),
	}}
}

// taskEvents is events from..to of id, task_end each.
func taskEvents(id string, from, to uint64) []events.Event {
	var out []events.Event
	for s := from; s <= to; s++ {
		out = append(out, event(id, s, events.TaskEnd))
	}
	return out
}

func step(id string, at time.Time) persistence.Step {
	return persistence.Step{
		ID: id, Kind: "task", Name: "step " + id,
		Output:   json.RawMessage(`{"ok":true}`),
		Attempts: 1, StartedAt: at, CompletedAt: at.Add(time.Millisecond),
	}
}

func mustCreate(t *testing.T, s Store, e persistence.Execution) {
	t.Helper()
	existing, err := s.CreateExecution(t.Context(), e, event(e.ID, 1, events.ExecutionStarted))
	if err != nil || existing != nil {
		t.Fatalf("CreateExecution(%s) = %v, %v; want nil, nil", e.ID, existing, err)
	}
}

func mustCommit(t *testing.T, s Store, w persistence.Write) {
	t.Helper()
	if err := s.Commit(t.Context(), w); err != nil {
		t.Fatalf("Commit(%s): %v", w.ExecutionID, err)
	}
}

func mustExecution(t *testing.T, s Store, id string) persistence.Execution {
	t.Helper()
	e, err := s.Execution(t.Context(), id)
	if err != nil {
		t.Fatalf("Execution(%s): %v", id, err)
	}
	return e
}

// seqsOf lists the seqs of stored events.
func seqsOf(st []events.Stored) []uint64 {
	out := make([]uint64, len(st))
	for i, e := range st {
		out[i] = e.Seq
	}
	return out
}

// ids lists the ids of executions.
func ids(es []persistence.Execution) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return slices.Equal(ja, jb)
}

// sameExecution compares records field by field: JSON fields by value,
// times with Equal.
func sameExecution(t *testing.T, got, want persistence.Execution) {
	t.Helper()
	switch {
	case got.ID != want.ID, got.Workspace != want.Workspace, got.Workflow != want.Workflow,
		got.Status != want.Status, got.StartedBy != want.StartedBy, got.ConnectionID != want.ConnectionID,
		got.Version != want.Version, got.IdempotencyKey != want.IdempotencyKey, got.LastSeq != want.LastSeq:
		t.Fatalf("execution = %+v\nwant %+v", got, want)
	case !sameJSON(got.Parameters, want.Parameters), !sameJSON(got.Metadata, want.Metadata):
		t.Fatalf("execution parameters/metadata = %s %s, want %s %s", got.Parameters, got.Metadata, want.Parameters, want.Metadata)
	case !got.CreatedAt.Equal(want.CreatedAt), !got.UpdatedAt.Equal(want.UpdatedAt):
		t.Fatalf("execution times = %v %v, want %v %v", got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	case (got.Result == nil) != (want.Result == nil), got.Result != nil && !sameJSON(got.Result, want.Result):
		t.Fatalf("execution result = %s, want %s", got.Result, want.Result)
	case (got.Error == nil) != (want.Error == nil), got.Error != nil && *got.Error != *want.Error:
		t.Fatalf("execution error = %+v, want %+v", got.Error, want.Error)
	}
}
