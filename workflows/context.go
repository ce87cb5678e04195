package workflows

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/weft-run/weft/checkpoint"
	"github.com/weft-run/weft/events"
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
	// Workspace returns the workspace the execution belongs to.
	Workspace() string
	// ConnectionID returns the socket that started the execution ("" when
	// it was not started over a socket).
	ConnectionID() string
	// Logger returns a logger tagged with the execution id.
	Logger() *zerolog.Logger

	state() *wctx
}

// Journal is how a running workflow records what happens: the execution
// actor implements it. Every method may be called from several goroutines
// of one execution.
type Journal interface {
	// Recorded returns the checkpoint of a step from an earlier run
	// (completed, or pending: a wait in progress).
	Recorded(stepID string) (checkpoint.Step, bool)
	// Emit appends an event without waiting for it to be durable (it is
	// still stored before anyone sees it).
	Emit(e events.Event)
	// Checkpoint appends events together with a step's checkpoint and
	// returns once both are durable.
	Checkpoint(ctx context.Context, cp Checkpoint) error
	// TakeSignal reserves the oldest signal named name not yet taken,
	// waiting up to wait for one to arrive (0: do not wait).
	TakeSignal(ctx context.Context, name string, wait time.Duration) (checkpoint.Signal, bool, error)
	// Suspend hands the wait over to the execution: it wakes the workflow
	// (by running it again from the top) at wakeAt, or when a signal named
	// signal arrives. It does not return: the calling goroutine exits.
	Suspend(wakeAt time.Time, signal string)
}

// Checkpoint is one durable record: a step's state, the events that go with
// it and, for a signal step, the signal it consumed.
type Checkpoint struct {
	Step          checkpoint.Step
	Events        []events.Event
	ConsumeSignal uint64 // 0: none
}

// Env carries what a server provides to every workflow it runs.
type Env struct {
	LLM    Provider       // the default LLM provider (scripted when nil)
	Logger zerolog.Logger // base logger
	// Registry resolves child workflows by name.
	Registry *Registry
	// Messenger delivers what workflows broadcast to rooms or send to
	// connections.
	Messenger Messenger
	// Artifacts stores and reads artifacts (OpenArtifact, PutArtifact).
	Artifacts ArtifactStore
	// SuspendAfter: a Sleep or signal wait longer than this hands the wait
	// to the execution and frees the goroutine (default 1 s).
	SuspendAfter time.Duration
}

// run is the state of one execution's run shared by its goroutines:
// read-only, except the branch counter.
type run struct {
	executionID string
	workspace   string
	connection  string
	workflow    string
	journal     Journal
	env         Env
	logger      zerolog.Logger
	branches    atomic.Int64 // Go branches still running
	drain       <-chan struct{}
}

// parkIfDraining ends the calling goroutine at a step boundary when the
// server is draining: everything before is checkpointed, nothing after runs.
func (r *run) parkIfDraining() {
	if r.drain == nil {
		return
	}
	select {
	case <-r.drain:
		runtime.Goexit()
	default:
	}
}

// wctx is the one implementation of Context. Each goroutine of a workflow
// has its own wctx, so the step counter needs no lock.
type wctx struct {
	context.Context
	run      *run
	prefix   string // step id prefix: "" at the root, "3." inside branch 3
	next     int    // index of the next step in this scope
	inBranch bool   // running in a Go branch, not the workflow's goroutine
}

var _ Context = (*wctx)(nil)

func (c *wctx) ExecutionID() string     { return c.run.executionID }
func (c *wctx) WorkflowName() string    { return c.run.workflow }
func (c *wctx) Workspace() string       { return c.run.workspace }
func (c *wctx) ConnectionID() string    { return c.run.connection }
func (c *wctx) Logger() *zerolog.Logger { return &c.run.logger }
func (c *wctx) state() *wctx            { return c }

// canSuspend reports whether a wait may unwind the workflow: only from the
// workflow's own goroutine, with no branch running.
func (c *wctx) canSuspend() bool {
	return !c.inBranch && c.run.branches.Load() == 0
}

// scope returns a context for a nested scope (a branch or a child
// workflow) whose steps are numbered under stepID.
func (c *wctx) scope(stepID string, branch bool) *wctx {
	return &wctx{Context: c.Context, run: c.run, prefix: stepID + ".", inBranch: c.inBranch || branch}
}

// nextStepID assigns the next deterministic step id in this scope.
func (c *wctx) nextStepID() string {
	c.next++
	return c.prefix + itoa(c.next)
}

func itoa(n int) string { return strconv.Itoa(n) }
