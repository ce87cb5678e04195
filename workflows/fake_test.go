package workflows_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/weft-run/weft/checkpoint"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/workflows"
)

// fakeJournal records in memory what the execution actor would store.
type fakeJournal struct {
	mu       sync.Mutex
	recorded map[string]checkpoint.Step // from an earlier run
	events   []events.Event
	steps    []checkpoint.Step // checkpointed in this run
}

func newJournal(recorded ...checkpoint.Step) *fakeJournal {
	j := &fakeJournal{recorded: map[string]checkpoint.Step{}}
	for _, s := range recorded {
		j.recorded[s.ID] = s
	}
	return j
}

func (j *fakeJournal) Recorded(id string) (checkpoint.Step, bool) {
	s, ok := j.recorded[id]
	return s, ok
}

func (j *fakeJournal) Emit(e events.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

func (j *fakeJournal) Checkpoint(_ context.Context, cp workflows.Checkpoint) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, cp.Events...)
	j.steps = append(j.steps, cp.Step)
	return nil
}

// TakeSignal: the fake has no signals.
func (j *fakeJournal) TakeSignal(ctx context.Context, _ string, wait time.Duration) (checkpoint.Signal, bool, error) {
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return checkpoint.Signal{}, false, ctx.Err()
	}
	return checkpoint.Signal{}, false, nil
}

// Suspend: tests of the fake never wait long enough to suspend.
func (j *fakeJournal) Suspend(time.Time, string) { panic("fakeJournal: unexpected Suspend") }

// completed returns the checkpoints that are results, not pending waits.
func (j *fakeJournal) completed() []checkpoint.Step {
	var out []checkpoint.Step
	for _, s := range j.steps {
		if !s.Pending() {
			out = append(out, s)
		}
	}
	return out
}

func (j *fakeJournal) types() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]string, len(j.events))
	for i, e := range j.events {
		out[i] = string(e.Type)
	}
	return out
}

// execute runs a registered workflow against a journal.
func execute(t *testing.T, reg *workflows.Registry, name string, params string, j *fakeJournal) (json.RawMessage, error) {
	t.Helper()
	def, ok := reg.Lookup(name)
	if !ok {
		t.Fatalf("no workflow %q", name)
	}
	return def.Execute(context.Background(), workflows.Run{
		ExecutionID: "exec_test", Parameters: json.RawMessage(params), Fresh: len(j.recorded) == 0, Journal: j,
	})
}

func persistenceStep(id, kind, name, output string) checkpoint.Step {
	return checkpoint.Step{ID: id, Kind: kind, Name: name, Output: json.RawMessage(output)}
}
