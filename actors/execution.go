package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

// Messages of executionActor. gen names the run (one goroutine running the
// workflow from the top) a message comes from: messages of an older run are
// ignored.
type (
	// appendEvents asks the actor to sequence and store events, with an
	// optional step checkpoint. reply, if set, gets the commit's outcome.
	appendEvents struct {
		gen     int
		events  []events.Event
		step    *persistence.Step
		consume uint64
		reply   chan<- error
		credits int // emit credits the events hold (see emitCredits)
	}
	// eventsCommitted comes back from the store's writer goroutine.
	eventsCommitted struct {
		write  *pendingWrite
		events []events.Stored // as stored, to publish
		err    error
	}
	// workflowReturned: the workflow function returned.
	workflowReturned struct {
		gen    int
		output json.RawMessage
		err    error
	}
	// suspendRun: the workflow's goroutine unwound to wait for a time or a
	// signal; the actor keeps only a timer.
	suspendRun struct {
		gen    int
		wakeAt time.Time
		signal string
	}
	wakeUp    struct{ gen int }
	cancelRun struct {
		reason string
		reply  chan<- weft.Status
	}
	cancelGrace       struct{ gen int }
	executionTimedOut struct{}
	// giveUp: the supervisor's restart budget is spent.
	giveUp struct{ reason any }
)

// errShutdown and errCancelled are the causes a run's context ends with.
var (
	errShutdown  = errors.New("server shutting down")
	errCancelled = errors.New("execution cancelled")
)

// cancelGracePeriod is how long a cancelled run may take to return before
// the execution is recorded as cancelled anyway.
const cancelGracePeriod = 5 * time.Second

// executionActor owns one live execution.
type executionActor struct {
	sys     *System
	exec    persistence.Execution
	def     *workflows.Definition
	fresh   bool
	nextSeq uint64
	self    *actor.PID
	log     zerolog.Logger

	gen            int                       // current run
	running        bool                      // its goroutine is alive
	cancelRun      context.CancelCauseFunc   // of the current run
	suspended      *time.Timer               // wake timer while suspended
	waitingOn      string                    // signal a suspended run waits for
	wakeAt         time.Time                 // when a suspended run's wait ends (zero: no deadline)
	inflight       int                       // commits handed to the store, not yet back (at most maxWritesInFlight)
	runningPending *persistence.StatusUpdate // "running", for the next write (markRunning)
	queued         *pendingWrite             // appends waiting for the commit in flight
	ending         bool                      // terminal events handed to the store
	stop           *stopRequest              // why the run is being stopped
	panicked       *workflows.PanicError     // restart once the store has caught up
	timeout        *time.Timer

	inbox signalInbox

	// Passivation (passivation.go): passivating once passivateReady is
	// sent, until the supervisor stops the actor or aborts; a wake timer
	// firing meanwhile is kept in wakeMissed. passivateOnIdle: passivate
	// once the writes in flight are committed.
	passivating, passivateOnIdle, wakeMissed, timeoutMissed bool
	// credits bound the events a run emits without waiting (a token
	// stream) that are not committed yet: backpressure (execution_writes.go).
	credits emitCredits
	// open are the steps started and not ended, closed with an event by a
	// cancel or a timeout (execution_steps.go).
	open openSteps
	// trace is the spans of this actor's life of the execution (nil:
	// tracing off, or the execution has ended): tracing.go.
	trace *execTrace
}

// stopRequest records why an execution is ending before its workflow
// returned: cancelled by a client, or out of time.
type stopRequest struct {
	reason   string
	timedOut bool
}

func newExecutionActor(sys *System, exec persistence.Execution, fresh bool) *executionActor {
	return &executionActor{sys: sys, exec: exec, fresh: fresh, credits: newEmitCredits(), open: openSteps{}}
}

func (a *executionActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.started(ctx)
	case *appendEvents:
		a.onAppend(msg)
	case *eventsCommitted:
		a.committed(ctx, msg)
	case *workflowReturned:
		a.returned(ctx, msg)
	case *suspendRun:
		a.suspend(ctx, msg)
	case *wakeUp:
		if msg.gen == a.gen && a.suspended != nil {
			if a.passivating {
				a.wakeMissed = true // the supervisor stops us (and wakes us at once) or aborts
				return
			}
			a.wake(ctx)
		}
	case *passivate:
		a.passivate(ctx)
	case *passivateAborted:
		a.passivateAborted(ctx)
	case *takeSignal:
		a.takeSignal(msg)
	case *signalArrived:
		a.signalArrived(ctx, msg)
	case *signalWaitOver:
		a.signalWaitOver(msg)
	case *cancelRun:
		a.requestStop(ctx, &stopRequest{reason: msg.reason})
		if msg.reply != nil {
			msg.reply <- weft.StatusCancelled
		}
	case *executionTimedOut:
		if a.passivating {
			a.timeoutMissed = true // the supervisor stops us (and wakes us at once) or aborts
			return
		}
		a.requestStop(ctx, &stopRequest{timedOut: true, reason: fmt.Sprintf("execution exceeded its timeout of %s", a.def.Timeout())})
	case *cancelGrace:
		if msg.gen == a.gen && a.running {
			a.log.Warn().Msg("cancelled workflow did not return in time; recording it as cancelled")
			a.running = false
			a.finishStopped()
		}
	case *giveUp:
		a.finish(nil, workflows.NonRetryable(fmt.Errorf("workflow failed after repeated restarts: %v", msg.reason)))
	case *actor.Stopping:
		a.halt(errShutdown)
	case *actor.Restarting:
		a.halt(errShutdown)
	}
}

// started loads the execution and begins its first run.
func (a *executionActor) started(ctx actor.Context) {
	a.self = ctx.Self()
	a.log = a.sys.log.With().Str("execution_id", a.exec.ID).Logger()
	exec, err := a.sys.store.Execution(context.Background(), a.exec.ID)
	if err != nil {
		a.log.Error().Err(err).Msg("load execution")
		a.stall(ctx, err)
		return
	}
	a.exec = exec
	a.nextSeq = exec.LastSeq + 1
	if exec.Status.Terminal() {
		ctx.Stop(a.self)
		return
	}
	a.trace = startTrace(a.sys.tracer, exec)
	def, ok := a.sys.registry.Lookup(exec.Workflow)
	if !ok {
		a.finish(nil, workflows.NonRetryable(weft.Errorf(weft.CodeWorkflowNotFound, "workflow %q is not registered on this server", exec.Workflow)))
		return
	}
	if !def.Accepts(exec.Version) {
		// Fail at once with a clear error, not with a non-determinism
		// error half-way through the history.
		a.finish(nil, workflows.NonRetryable(&workflows.CodedError{Code: "VERSION_MISMATCH", Message: fmt.Sprintf(
			"execution started on version %q of %s; this server runs version %q, compatible with %v",
			exec.Version, exec.Workflow, def.Version(), def.Compatible())}))
		return
	}
	a.def = def
	if exec.Status == weft.StatusQueued || exec.Status == weft.StatusWaiting {
		// Admitted from the queue, or woken after passivation (or a
		// restart): from now on it runs.
		a.markRunning()
	}
	if d := def.Timeout(); d > 0 {
		root, self := a.sys.actors.Root, a.self
		a.timeout = time.AfterFunc(time.Until(exec.CreatedAt.Add(d)), func() { root.Send(self, &executionTimedOut{}) })
	}
	a.startRun(ctx)
}

// halt ends the current run's goroutine and timers (the actor is stopping
// or restarting). The execution stays unfinished in the store.
func (a *executionActor) halt(cause error) {
	why := "stopped"
	if a.passivating {
		why = "passivated"
	}
	a.trace.stop(string(a.exec.Status), why)
	a.trace = nil
	if a.cancelRun != nil {
		a.cancelRun(cause)
	}
	if a.suspended != nil {
		a.suspended.Stop()
	}
	if a.timeout != nil {
		a.timeout.Stop()
	}
	a.inbox.failWaiters(cause)
}

// onAppend sequences events from the current run.
func (a *executionActor) onAppend(msg *appendEvents) {
	if msg.gen != a.gen {
		a.credits.release(msg.credits)
		if msg.reply != nil {
			msg.reply <- errors.New("stale run")
		}
		return
	}
	var steps []persistence.Step
	if msg.step != nil {
		steps = []persistence.Step{*msg.step}
	}
	var consume []uint64
	if msg.consume != 0 {
		consume = []uint64{msg.consume}
	}
	a.appendCredited(persistence.Write{Events: msg.events, Steps: steps, ConsumeSignals: consume}, msg.reply, msg.credits)
}

// append assigns the next seqs and hands the write to the store's
// group-commit writer; the answer comes back as eventsCommitted.
func (a *executionActor) append(w persistence.Write, reply chan<- error) {
	a.appendCredited(w, reply, 0)
}

// appendCredited is append for events that hold emit credits, given back
// once they are committed (or refused).
func (a *executionActor) appendCredited(w persistence.Write, reply chan<- error, credits int) {
	if a.ending {
		a.credits.release(credits)
		if reply != nil {
			reply <- errors.New("execution has ended")
		}
		return
	}
	now := time.Now().UTC()
	for i := range w.Events {
		d := &w.Events[i].Data
		d.Seq, d.Timestamp, d.ExecutionID, d.Workflow = a.nextSeq, now, a.exec.ID, a.exec.Workflow
		a.nextSeq++
		a.observe(w.Events[i])
	}
	w.ExecutionID = a.exec.ID
	if w.Status == nil {
		w.Status = a.runningPending
	}
	a.runningPending = nil // carried by this write, or replaced by its own status
	if w.Status != nil {
		a.ending = w.Status.Status.Terminal()
	}
	if a.inflight < maxWritesInFlight {
		a.commit(newPendingWrite(w, reply, credits))
		return
	}
	// Writes are with the store: this one waits for them, merged with any
	// other that arrives meanwhile (see pendingWrite).
	if a.queued == nil {
		a.queued = newPendingWrite(w, reply, credits)
		return
	}
	a.queued.merge(w, reply, credits)
}

// commit hands one (possibly merged) write to the store's group-commit
// writer; the answer comes back as eventsCommitted.
func (a *executionActor) commit(p *pendingWrite) {
	a.inflight++
	root, self := a.sys.actors.Root, a.self
	// The events are encoded once, here: the store writes these bytes and
	// the bus publishes the same ones after the commit.
	prepared, err := persistence.Prepare(p.w)
	if err != nil {
		root.Send(self, &eventsCommitted{write: p, err: err})
		return
	}
	evs := prepared.Events()
	id, ends := a.exec.ID, p.status().Terminal()
	a.sys.store.CommitPrepared(prepared, func(err error) {
		if err == nil && ends {
			// Its quota slot is free as soon as its end is stored, not
			// once this actor gets to the message below: a client that
			// reads the end from the store may start another at once.
			a.sys.unfinished.release(id)
		}
		root.Send(self, &eventsCommitted{write: p, events: evs, err: err})
	})
}

// committed publishes durable events (persist, then publish), wakes the
// goroutines waiting for their checkpoints, and commits what queued up
// meanwhile.
func (a *executionActor) committed(ctx actor.Context, msg *eventsCommitted) {
	a.inflight--
	p := msg.write
	if msg.err != nil && errors.Is(msg.err, persistence.ErrFenced) && !a.sys.owns(a.exec.ID) {
		// Cluster mode: another node runs the execution now. Not a
		// failure of the execution: this actor just stops.
		a.log.Info().Err(msg.err).Msg("another node took the execution over; stopping here")
		p.answer(msg.err)
		a.credits.release(p.credits)
		a.sys.forget(a.exec.ID)
		ctx.Stop(a.self)
		return
	}
	if msg.err != nil {
		// The log cannot continue without a gap: stop, and let the
		// supervisor run the workflow again from what is durable.
		a.log.Error().Err(msg.err).Msg("store events; stopping execution")
		if errors.Is(msg.err, persistence.ErrFenced) {
			a.sys.forget(a.exec.ID) // the retry reads the log as it is
		}
		p.answer(msg.err)
		a.credits.release(p.credits)
		if a.queued != nil {
			a.queued.answer(msg.err)
			a.credits.release(a.queued.credits)
			a.queued = nil
		}
		a.stall(ctx, msg.err)
		return
	}
	status := p.status()
	if status != "" {
		a.exec.Status = status
	}
	if status.Terminal() {
		a.sys.metrics.ExecutionsEnded.WithLabelValues(a.exec.Workflow, string(status)).Inc()
	}
	for _, st := range p.w.Steps {
		if !st.Pending() && !st.CompletedAt.IsZero() {
			a.sys.metrics.StepDuration.WithLabelValues(st.Kind).Observe(st.CompletedAt.Sub(st.StartedAt).Seconds())
		}
	}
	if err := a.sys.bus.Publish(a.exec.ID, msg.events...); err != nil {
		// Only a closing bus fails, and its subscribers are leaving.
		a.log.Warn().Err(err).Msg("publish events")
	}
	a.sys.metrics.EventsPublished.Add(float64(len(msg.events)))
	p.answer(nil)
	a.credits.release(p.credits)
	if next := a.queued; next != nil {
		a.queued = nil
		a.commit(next)
	}
	if a.passivateOnIdle && a.inflight == 0 && a.queued == nil {
		a.passivateOnIdle = false
		a.passivate(ctx)
	}
	switch {
	case status.Terminal():
		ctx.Stop(a.self)
	case a.panicked != nil && a.inflight == 0:
		panicked := a.panicked
		a.panicked = nil
		panic(panicked) // the supervisor restarts this actor: the workflow runs again
	}
}

// markRunning records that a queued or waiting execution runs again. The
// status rides on the run's next write (its first event or checkpoint)
// instead of costing a commit of its own: 10,000 executions waking at once
// then need one group commit each, not two.
func (a *executionActor) markRunning() {
	a.runningPending = &persistence.StatusUpdate{Status: weft.StatusRunning, At: time.Now().UTC()}
}

// stall stops this actor after a failed store write or load, and asks the
// supervisor to start the execution again later from what is durable
// (recorded steps fast-forward): an execution is never left running with no
// actor.
func (a *executionActor) stall(ctx actor.Context, err error) {
	ctx.Send(ctx.Parent(), &executionStalled{exec: a.exec, err: err})
	ctx.Stop(a.self)
}

// returned handles the end of a run's workflow function.
func (a *executionActor) returned(ctx actor.Context, msg *workflowReturned) {
	if !a.runEnded(msg.gen) {
		return
	}
	var p *workflows.PanicError
	if errors.As(msg.err, &p) && !errors.As(msg.err, new(*workflows.StepError)) {
		a.log.Warn().Interface("panic", p.Value).Msg("workflow panicked; restarting it")
		if a.inflight == 0 {
			panic(p)
		}
		a.panicked = p
		return
	}
	a.finish(msg.output, msg.err)
}

// finish records the outcome: workflow_end or workflow_error, then the
// terminal execution event, with the status change, in one commit.
func (a *executionActor) finish(output json.RawMessage, err error) {
	a.finishAfter(nil, output, err)
}

// observe follows one sequenced event: the open steps, and the trace.
// Only the events they read are decoded.
func (a *executionActor) observe(e events.Event) {
	steps, traced := a.open.follows(e.Type), a.trace.follows(e.Type)
	if !steps && !traced {
		return
	}
	d, ok := decodeStepDetails(e)
	if !ok {
		return
	}
	if steps {
		a.open.observe(e.Type, d)
	}
	if traced {
		a.trace.observe(e, d)
		if e.Type.Terminal() {
			a.trace = nil // its span has ended
		}
	}
}

// finishAfter is finish with events that go first in the same commit (the
// closing events of the steps a timeout interrupted).
func (a *executionActor) finishAfter(first []events.Event, output json.RawMessage, err error) {
	if a.timeout != nil {
		a.timeout.Stop()
	}
	now := time.Now().UTC()
	name, duration := a.exec.Workflow, now.Sub(a.exec.CreatedAt).Milliseconds()
	workflowEnd := events.New(events.WorkflowEnd, events.WorkflowDetails{Name: name, Output: output})
	executionEnd := events.New(events.ExecutionCompleted, events.ExecutionEndDetails{Result: output, DurationMS: duration})
	status := &persistence.StatusUpdate{Status: weft.StatusCompleted, Result: output, At: now}
	if err != nil {
		info := workflows.ErrorInfo(err)
		workflowEnd = events.New(events.WorkflowError, events.WorkflowDetails{Name: name, Error: info})
		executionEnd = events.New(events.ExecutionFailed, events.ExecutionEndDetails{Error: info, DurationMS: duration})
		status = &persistence.StatusUpdate{Status: weft.StatusFailed, Error: info, At: now}
	}
	a.append(persistence.Write{Events: append(first, workflowEnd, executionEnd), Status: status}, nil)
}
