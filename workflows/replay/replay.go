// Package replay checks that the workflow code of this binary still fits
// executions recorded earlier, the way Temporal's replayer lets a team
// check a deploy before it reaches running executions.
//
// Check runs a workflow function against a recorded execution with a
// Journal that serves the recorded step results and never runs a step:
// the first time the code asks for a step that is not recorded, the run
// stops there. Nothing is written and nothing reaches a socket, an LLM or
// a tool. The verdict is the first divergence, if any:
//
//   - the code asks for another kind or name of step than the one recorded
//     at the same step id (the NONDETERMINISM a live resume would fail with);
//   - the code asks for a step beyond the recorded ones although the
//     recorded execution completed there;
//   - the code returns while recorded steps were never asked for, or with
//     another outcome (completed/failed, result) than the recorded one.
//
// An execution that had not ended (running, waiting), or that was cancelled
// or failed mid-way, may legitimately stop short: reaching its frontier is
// not a divergence.
package replay

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

// History is what Check needs of a recorded execution: its record (workflow,
// parameters, status, result) and its step checkpoints.
type History struct {
	Execution persistence.Execution
	Steps     []persistence.Step
}

// Divergence is the first place where the code and the recording differ.
// Recorded and Code name a step as "<kind> <name>"; an empty one means
// "nothing" (the recording ended there, or the code returned).
type Divergence struct {
	StepID   string `json:"step_id,omitempty"`
	Recorded string `json:"recorded,omitempty"`
	Code     string `json:"code,omitempty"`
	Reason   string `json:"reason"`
}

func (d *Divergence) String() string {
	if d.StepID == "" {
		return d.Reason
	}
	return fmt.Sprintf("step %s: recorded %q, code %q: %s", d.StepID, d.Recorded, d.Code, d.Reason)
}

// Result is the verdict on one execution.
type Result struct {
	ExecutionID string      `json:"execution_id"`
	Workflow    string      `json:"workflow"`
	Status      weft.Status `json:"status"`
	// Replayed counts the recorded steps the code asked for.
	Replayed int `json:"replayed_steps"`
	// Frontier is the first step the code asked for that is not recorded
	// ("" when it returned first).
	Frontier   string      `json:"frontier,omitempty"`
	Divergence *Divergence `json:"divergence,omitempty"`
}

// OK reports whether the code fits the recording.
func (r Result) OK() bool { return r.Divergence == nil }

// Timeout bounds one check: recorded steps answer at once, so only a
// workflow that blocks outside steps (which the determinism rules forbid)
// comes near it.
const Timeout = 30 * time.Second

// Check replays h against the workflow registered under h's name in reg.
func Check(ctx context.Context, reg *workflows.Registry, h History) Result {
	e := h.Execution
	res := Result{ExecutionID: e.ID, Workflow: e.Workflow, Status: e.Status}
	def, ok := reg.Lookup(e.Workflow)
	if !ok {
		res.Divergence = &Divergence{Reason: fmt.Sprintf("workflow %q is not registered in this binary", e.Workflow)}
		return res
	}
	j := &journal{steps: map[string]persistence.Step{}, used: map[string]bool{}}
	for _, st := range h.Steps {
		j.steps[st.ID] = st
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	out, err := def.Execute(ctx, workflows.Run{
		ExecutionID: e.ID, Workspace: e.Workspace, ConnectionID: e.ConnectionID,
		Parameters: e.Parameters, Journal: j,
		Env: workflows.Env{Registry: reg, Logger: zerolog.Nop()},
	})
	j.mu.Lock()
	defer j.mu.Unlock()
	res.Replayed = len(j.used)
	res.Divergence = j.verdict(e, out, err)
	if j.frontier != nil {
		res.Frontier = j.frontier.id
	}
	if res.Divergence == nil && ctx.Err() != nil {
		res.Divergence = &Divergence{Reason: fmt.Sprintf("replay did not finish within %s: the workflow blocks outside steps", Timeout)}
	}
	return res
}

// verdict compares what the code did with the recording.
func (j *journal) verdict(e persistence.Execution, out json.RawMessage, err error) *Divergence {
	if j.mismatch != nil {
		return j.mismatch
	}
	var nd *workflows.NondeterminismError
	if errors.As(err, &nd) {
		return &Divergence{StepID: nd.StepID, Recorded: stepName(nd.RecordedKind, nd.RecordedName),
			Code: stepName(nd.RequestedKind, nd.RequestedName), Reason: "another step at the same position"}
	}
	if f := j.frontier; f != nil {
		if e.Status == weft.StatusCompleted {
			return &Divergence{StepID: f.id, Code: stepName(f.kind, f.name),
				Reason: "the code asks for a step beyond the recorded ones, but the recorded execution completed"}
		}
		return nil // the recording stops here: a live resume would run it
	}
	if unused := j.unusedSteps(); len(unused) > 0 {
		st := unused[0]
		return &Divergence{StepID: st.ID, Recorded: stepName(st.Kind, st.Name),
			Reason: fmt.Sprintf("the code returned without asking for %d recorded step(s)", len(unused))}
	}
	switch e.Status {
	case weft.StatusCompleted:
		if err != nil {
			return &Divergence{Reason: fmt.Sprintf("recorded completed, the code now fails: %v", err)}
		}
		if !sameJSON(out, e.Result) {
			return &Divergence{Reason: fmt.Sprintf("recorded result %s, the code now returns %s", compact(e.Result), compact(out))}
		}
	case weft.StatusFailed:
		if err == nil {
			return &Divergence{Reason: "recorded failed, the code now completes"}
		}
	}
	return nil
}

// unusedSteps are completed recorded steps the code never asked for, in
// step order.
func (j *journal) unusedSteps() []persistence.Step {
	var out []persistence.Step
	for id, st := range j.steps {
		if !j.used[id] && !st.Pending() {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b persistence.Step) int { return workflows.CompareStepIDs(a.ID, b.ID) })
	return out
}

// stopReplay is the panic that unwinds the workflow at its frontier. The
// runner turns it into an error (a *workflows.PanicError); the journal has
// noted why before.
type stopReplay struct{}

type step struct{ id, kind, name string }

// journal serves recorded steps and stops the run at anything else. Its
// methods may be called from several branches at once.
type journal struct {
	mu       sync.Mutex
	steps    map[string]persistence.Step
	used     map[string]bool
	frontier *step
	mismatch *Divergence
}

var _ workflows.Journal = (*journal)(nil)

// Recorded serves completed steps only: a pending one (a wait or a retry
// in progress) is where the recording ends.
func (j *journal) Recorded(id string) (persistence.Step, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	st, ok := j.steps[id]
	if !ok || st.Pending() {
		return persistence.Step{}, false
	}
	j.used[id] = true
	return st, true
}

// Emit is only reached by a step that is about to run: stop there.
func (j *journal) Emit(e events.Event) {
	var d struct {
		StepID string `json:"step_id"`
		Name   string `json:"name"`
		Tool   string `json:"tool"`
	}
	_ = json.Unmarshal(e.Data.Details, &d)
	kind := strings.TrimSuffix(string(e.Type), "_start")
	j.stop(step{id: d.StepID, kind: kind, name: cmp.Or(d.Name, d.Tool)})
}

func (j *journal) Checkpoint(_ context.Context, cp workflows.Checkpoint) error {
	j.stop(step{id: cp.Step.ID, kind: cp.Step.Kind, name: cp.Step.Name})
	return nil
}

func (j *journal) TakeSignal(_ context.Context, name string, _ time.Duration) (persistence.Signal, bool, error) {
	j.stop(step{kind: "signal", name: name})
	return persistence.Signal{}, false, nil
}

func (j *journal) Suspend(time.Time, string) { j.stop(step{}) }

// stop notes the first frontier (and whether it contradicts a pending
// recorded step at the same id), then unwinds the calling goroutine.
func (j *journal) stop(s step) {
	j.mu.Lock()
	if j.frontier == nil {
		j.frontier = &s
		if rec, ok := j.steps[s.id]; ok && s.name != "" && (rec.Kind != s.kind || rec.Name != s.name) {
			j.mismatch = &Divergence{StepID: s.id, Recorded: stepName(rec.Kind, rec.Name), Code: stepName(s.kind, s.name),
				Reason: "another step at the same position"}
		}
	}
	j.mu.Unlock()
	panic(stopReplay{})
}

func stepName(kind, name string) string { return strings.TrimSpace(kind + " " + name) }

func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}

func compact(raw json.RawMessage) string {
	const max = 120
	s := string(raw)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
