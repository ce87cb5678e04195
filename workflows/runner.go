package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/weft-run/weft/events"
)

// Run describes one run of an execution's workflow function.
type Run struct {
	ExecutionID string
	Workspace   string
	// ConnectionID is the socket that started the execution ("" if none).
	ConnectionID string
	Parameters   json.RawMessage
	// Fresh is true on the first run of an execution: only then is
	// workflow_start emitted (a resumed run must not emit it twice).
	Fresh   bool
	Journal Journal
	Env     Env
	// Drain, when closed, asks the run to stop at its next step boundary:
	// a step already running finishes and is checkpointed, then the
	// goroutine exits (the server is shutting down gracefully; the
	// execution resumes at next start).
	Drain <-chan struct{}
}

// Execute runs the workflow function from the top against the journal and
// returns its output as JSON. Recorded steps fast-forward. A panic in the
// workflow function is returned as an error, never propagated.
func (d *Definition) Execute(ctx context.Context, r Run) (out json.RawMessage, err error) {
	in, err := d.decode(r.Parameters)
	if err != nil {
		return nil, NonRetryable(err)
	}
	rn := &run{
		executionID: r.ExecutionID,
		workspace:   r.Workspace,
		connection:  r.ConnectionID,
		workflow:    d.name,
		journal:     r.Journal,
		env:         r.Env,
		drain:       r.Drain,
		logger:      r.Env.Logger.With().Str("execution_id", r.ExecutionID).Str("workflow", d.name).Logger(),
	}
	if r.Fresh {
		r.Journal.Emit(events.New(events.WorkflowStart, events.WorkflowDetails{Name: d.name, Input: r.Parameters}))
	}
	wc := &wctx{Context: ctx, run: rn}
	result, err := callProtected(func() (any, error) { return d.run(wc, in) })
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return nil, NonRetryable(fmt.Errorf("encode workflow output: %w", err))
	}
	return raw, nil
}

// PanicError is what a recovered panic in workflow or step code becomes.
type PanicError struct {
	Value any
	Stack string
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// callProtected runs fn and turns a panic into a *PanicError, so a bug in
// user code fails one attempt instead of the process.
func callProtected[T any](fn func() (T, error)) (out T, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: string(debug.Stack())}
		}
	}()
	return fn()
}
