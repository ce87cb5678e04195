package workflows

import (
	"context"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// Context is what a workflow function receives. It is a context.Context
// (cancelled when the execution is cancelled or the server stops) that also
// knows which execution it belongs to. Pass it to steps; only weft
// implements it.
type Context interface {
	context.Context
	// ExecutionID returns the id of the running execution.
	ExecutionID() string
	// WorkflowName returns the registered name of the running workflow.
	WorkflowName() string
	// Logger returns a logger tagged with the execution id.
	Logger() *zerolog.Logger

	state() *wctx
}

// Journal is how a running workflow records what happens: the execution
// actor implements it. Emit and Checkpoint may be called from several
// goroutines of one execution.
type Journal interface {
	// Recorded returns the checkpoint of a step completed in an earlier run.
	Recorded(stepID string) (persistence.Step, bool)
	// Emit appends an event without waiting for it to be durable (it is
	// still stored before anyone sees it).
	Emit(e events.Event)
	// Checkpoint appends events together with a step's checkpoint and
	// returns once both are durable.
	Checkpoint(ctx context.Context, step persistence.Step, evs ...events.Event) error
}

// Env carries what a server provides to every workflow it runs.
type Env struct {
	LLM    Provider       // the default LLM provider (scripted when nil)
	Logger zerolog.Logger // base logger
}

// run is shared, read-only state of one execution's run.
type run struct {
	executionID string
	workflow    string
	journal     Journal
	env         Env
	logger      zerolog.Logger
}

// wctx is the one implementation of Context. Each goroutine of a workflow
// has its own wctx, so the step counter needs no lock.
type wctx struct {
	context.Context
	run    *run
	prefix string // step id prefix: "" at the root, "3." inside branch 3
	next   int    // index of the next step in this scope
}

var _ Context = (*wctx)(nil)

func (c *wctx) ExecutionID() string     { return c.run.executionID }
func (c *wctx) WorkflowName() string    { return c.run.workflow }
func (c *wctx) Logger() *zerolog.Logger { return &c.run.logger }
func (c *wctx) state() *wctx            { return c }

// nextStepID assigns the next deterministic step id in this scope.
func (c *wctx) nextStepID() string {
	c.next++
	return c.prefix + strconv.Itoa(c.next)
}
