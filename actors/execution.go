package actors

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

// Messages of executionActor.
type (
	// appendEvents asks the actor to sequence and store events (with an
	// optional step checkpoint). reply, if set, gets the commit's outcome.
	appendEvents struct {
		events []events.Event
		step   *persistence.Step
		reply  chan<- error
	}
	// eventsCommitted comes back from the store's writer goroutine.
	eventsCommitted struct {
		events   []events.Event
		reply    chan<- error
		terminal bool
		err      error
	}
	// workflowReturned is sent by the workflow goroutine when the function
	// returns.
	workflowReturned struct {
		output json.RawMessage
		err    error
	}
)

// executionActor owns one live execution.
type executionActor struct {
	sys     *System
	exec    persistence.Execution
	fresh   bool
	nextSeq uint64
	self    *actor.PID
	cancel  context.CancelFunc
	ending  bool // terminal events handed to the store: accept no more
}

func newExecutionActor(sys *System, exec persistence.Execution, fresh bool) *executionActor {
	return &executionActor{sys: sys, exec: exec, fresh: fresh}
}

func (a *executionActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *appendEvents:
		a.append(msg.events, msg.step, nil, msg.reply)
	case *eventsCommitted:
		a.committed(ctx, msg)
	case *workflowReturned:
		a.finish(msg)
	case *actor.Stopping, *actor.Restarting:
		if a.cancel != nil {
			a.cancel()
		}
	}
}

// start loads the execution's record and checkpoints and runs the workflow
// function in a goroutine the actor owns (cancelled when it stops).
func (a *executionActor) start(ctx actor.Context) {
	a.self = ctx.Self()
	log := a.sys.log.With().Str("execution_id", a.exec.ID).Logger()
	// The record may be stale after a restart of this actor: reload it.
	exec, err := a.sys.store.Execution(context.Background(), a.exec.ID)
	if err != nil {
		log.Error().Err(err).Msg("load execution")
		ctx.Stop(a.self)
		return
	}
	a.exec = exec
	a.nextSeq = exec.LastSeq + 1
	if exec.Status.Terminal() {
		ctx.Stop(a.self)
		return
	}
	steps, err := a.sys.store.Steps(context.Background(), exec.ID)
	if err != nil {
		log.Error().Err(err).Msg("load steps")
		ctx.Stop(a.self)
		return
	}
	def, ok := a.sys.registry.Lookup(exec.Workflow)
	if !ok {
		a.finish(&workflowReturned{err: workflows.NonRetryable(weft.Errorf(weft.CodeWorkflowNotFound, "workflow %q is not registered on this server", exec.Workflow))})
		return
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	j := &journal{root: a.sys.actors.Root, pid: a.self, steps: steps}
	run := workflows.Run{
		ExecutionID: exec.ID,
		Parameters:  exec.Parameters,
		Fresh:       a.fresh && exec.LastSeq <= 1,
		Journal:     j,
		Env:         a.sys.env,
	}
	root, self := a.sys.actors.Root, a.self
	go func() {
		out, err := def.Execute(runCtx, run)
		if runCtx.Err() != nil {
			return // the actor stopped (shutdown): the execution resumes at next start
		}
		root.Send(self, &workflowReturned{output: out, err: err})
	}()
	log.Debug().Bool("fresh", run.Fresh).Int("recorded_steps", len(steps)).Msg("execution running")
}

// append assigns the next seqs and hands the events to the store's
// group-commit writer; the answer comes back as eventsCommitted.
func (a *executionActor) append(evs []events.Event, step *persistence.Step, status *persistence.StatusUpdate, reply chan<- error) {
	if a.ending {
		if reply != nil {
			reply <- errors.New("execution has ended")
		}
		return
	}
	now := time.Now().UTC()
	for i := range evs {
		evs[i].Data.Seq = a.nextSeq
		evs[i].Data.Timestamp = now
		evs[i].Data.ExecutionID = a.exec.ID
		evs[i].Data.Workflow = a.exec.Workflow
		a.nextSeq++
	}
	w := persistence.Write{ExecutionID: a.exec.ID, Events: evs, Status: status}
	if step != nil {
		w.Steps = []persistence.Step{*step}
	}
	terminal := status != nil && status.Status.Terminal()
	if terminal {
		a.ending = true
	}
	root, self := a.sys.actors.Root, a.self
	a.sys.store.CommitAsync(w, func(err error) {
		root.Send(self, &eventsCommitted{events: evs, reply: reply, terminal: terminal, err: err})
	})
}

// committed publishes durable events (persist, then publish) and wakes the
// workflow goroutine waiting for its checkpoint.
func (a *executionActor) committed(ctx actor.Context, msg *eventsCommitted) {
	if msg.err != nil {
		// The log can no longer continue without a gap: stop, and let
		// recovery run the workflow again from what is durable.
		a.sys.log.Error().Err(msg.err).Str("execution_id", a.exec.ID).Msg("store events; stopping execution")
		if msg.reply != nil {
			msg.reply <- msg.err
		}
		ctx.Stop(a.self)
		return
	}
	if err := a.sys.bus.Publish(msg.events...); err != nil {
		// Subscribers still get the events: they read gaps from the store.
		a.sys.log.Warn().Err(err).Str("execution_id", a.exec.ID).Msg("publish events")
	}
	if msg.reply != nil {
		msg.reply <- nil
	}
	if msg.terminal {
		ctx.Stop(a.self)
	}
}

// finish records the outcome: workflow_end or workflow_error, then the
// terminal execution event, with the status change, in one commit.
func (a *executionActor) finish(msg *workflowReturned) {
	if a.ending {
		return
	}
	now := time.Now().UTC()
	duration := now.Sub(a.exec.CreatedAt).Milliseconds()
	name := a.exec.Workflow
	if msg.err == nil {
		a.append([]events.Event{
			events.New(events.WorkflowEnd, events.WorkflowDetails{Name: name, Output: msg.output}),
			events.New(events.ExecutionCompleted, events.ExecutionEndDetails{Result: msg.output, DurationMS: duration}),
		}, nil, &persistence.StatusUpdate{Status: weft.StatusCompleted, Result: msg.output, At: now}, nil)
		return
	}
	info := workflows.ErrorInfo(msg.err)
	a.append([]events.Event{
		events.New(events.WorkflowError, events.WorkflowDetails{Name: name, Error: info}),
		events.New(events.ExecutionFailed, events.ExecutionEndDetails{Error: info, DurationMS: duration}),
	}, nil, &persistence.StatusUpdate{Status: weft.StatusFailed, Error: info, At: now}, nil)
}

// journal is the workflow goroutine's handle on its execution actor.
type journal struct {
	root  *actor.RootContext
	pid   *actor.PID
	steps map[string]persistence.Step // read-only after start
}

var _ workflows.Journal = (*journal)(nil)

func (j *journal) Recorded(stepID string) (persistence.Step, bool) {
	s, ok := j.steps[stepID]
	return s, ok
}

func (j *journal) Emit(e events.Event) {
	j.root.Send(j.pid, &appendEvents{events: []events.Event{e}})
}

func (j *journal) Checkpoint(ctx context.Context, step persistence.Step, evs ...events.Event) error {
	reply := make(chan error, 1)
	j.root.Send(j.pid, &appendEvents{events: evs, step: &step, reply: reply})
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
