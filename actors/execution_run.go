package actors

import (
	"cmp"
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

// startRun runs the workflow function from the top in a new goroutine the
// actor owns, against the checkpoints and signals durable now.
func (a *executionActor) startRun(ctx actor.Context) {
	bg := context.Background()
	steps, err := a.sys.store.Steps(bg, a.exec.ID)
	if err == nil {
		var signals []persistence.Signal
		signals, err = a.sys.store.Signals(bg, a.exec.ID)
		a.inbox.reload(signals)
	}
	if err != nil {
		a.log.Error().Err(err).Msg("load checkpoints")
		ctx.Stop(a.self)
		return
	}
	a.gen++
	if a.gen == 1 {
		a.open.seed(steps) // what earlier actors left open
	}
	a.running = true
	runCtx, cancel := context.WithCancelCause(bg)
	a.cancelRun = cancel
	j := &journal{root: a.sys.actors.Root, pid: a.self, gen: a.gen, steps: steps, credits: a.credits, done: runCtx.Done()}
	env := a.sys.env
	env.Registry = a.sys.registry
	run := workflows.Run{
		ExecutionID:  a.exec.ID,
		Workspace:    a.exec.Workspace,
		ConnectionID: a.exec.ConnectionID,
		Parameters:   a.exec.Parameters,
		Fresh:        a.exec.LastSeq <= 1 && a.gen == 1, // workflow_start not yet durable
		Journal:      j,
		Env:          env,
		Drain:        a.sys.drain,
	}
	root, self, gen, def := a.sys.actors.Root, a.self, a.gen, a.def
	a.sys.runStarted()
	go func() {
		defer a.sys.runEnded() // also when the goroutine unwinds (Goexit)
		out, err := def.Execute(runCtx, run)
		if errors.Is(context.Cause(runCtx), errShutdown) {
			return // the actor is stopping: the execution resumes at next start
		}
		root.Send(self, &workflowReturned{gen: gen, output: out, err: err})
	}()
	a.log.Debug().Int("run", a.gen).Int("recorded_steps", len(steps)).Msg("workflow running")
}

// runEnded notes that run gen's goroutine is gone (it returned or
// unwound). It reports whether the caller should go on: false for a stale
// run, or when a pending cancel has just been recorded instead.
func (a *executionActor) runEnded(gen int) bool {
	if gen != a.gen || !a.running {
		return false
	}
	a.running = false
	if a.stop != nil {
		a.finishStopped()
		return false
	}
	return true
}

// suspend keeps only a timer (and the signal awaited) for a workflow that
// unwound to wait. It costs no goroutine until it wakes, and the
// supervisor passivates it (stops the actor) once it has rested in the warm
// set long enough: see passivation.go. The wake time goes to the store's
// waiting index with the status, so a restart need not run it to know it.
func (a *executionActor) suspend(ctx actor.Context, msg *suspendRun) {
	if !a.runEnded(msg.gen) {
		return
	}
	a.waitingOn, a.wakeAt = msg.signal, msg.wakeAt
	wait := 100 * 365 * 24 * time.Hour // no deadline: wait for the signal
	if !msg.wakeAt.IsZero() {
		wait = time.Until(msg.wakeAt)
	}
	root, self, gen := a.sys.actors.Root, a.self, a.gen
	a.suspended = time.AfterFunc(max(wait, 0), func() { root.Send(self, &wakeUp{gen: gen}) })
	a.append(persistence.Write{Status: &persistence.StatusUpdate{Status: weft.StatusWaiting, At: time.Now().UTC(), WakeAt: msg.wakeAt}}, nil)
	if msg.signal != "" && a.inbox.has(msg.signal) {
		a.suspended.Reset(0) // the signal came while the run unwound
	}
	ctx.Send(ctx.Parent(), &executionSuspended{id: a.exec.ID, pid: a.self})
}

// passivate answers the supervisor's request to stop a resting actor: it
// says it is ready once it is suspended with no write in flight (the
// supervisor then stops it, unless something was routed to it meanwhile).
func (a *executionActor) passivate(ctx actor.Context) {
	if a.suspended == nil || a.running || a.stop != nil || a.ending || a.passivating || a.panicked != nil {
		return
	}
	if a.inflight > 0 || a.queued != nil {
		a.passivateOnIdle = true // once committed (see committed)
		return
	}
	wakeAt := a.wakeAt
	if d := a.def.Timeout(); d > 0 {
		wakeAt = earliest(wakeAt, a.exec.CreatedAt.Add(d))
	}
	a.passivating = true
	ctx.Send(ctx.Parent(), &passivateReady{id: a.exec.ID, pid: a.self, wakeAt: wakeAt})
}

// passivateAborted: the supervisor keeps this actor (something was routed
// to it). A wake timer that fired meanwhile wakes it now; still resting,
// it goes back in the warm set.
func (a *executionActor) passivateAborted(ctx actor.Context) {
	a.passivating = false
	if a.timeoutMissed {
		a.timeoutMissed = false
		ctx.Send(a.self, &executionTimedOut{})
	}
	if a.suspended == nil {
		return
	}
	if a.wakeMissed {
		a.wake(ctx)
		return
	}
	ctx.Send(ctx.Parent(), &executionSuspended{id: a.exec.ID, pid: a.self})
}

// wake resumes a suspended execution by running its workflow again.
func (a *executionActor) wake(ctx actor.Context) {
	a.suspended.Stop()
	a.suspended = nil
	a.waitingOn, a.wakeAt = "", time.Time{}
	a.passivateOnIdle, a.wakeMissed = false, false
	ctx.Send(ctx.Parent(), &executionResumed{id: a.exec.ID, pid: a.self})
	a.markRunning()
	a.startRun(ctx)
}

// requestStop cancels the execution (or times it out): the running step's
// context is cancelled and no further step runs. A finished execution
// ignores it.
func (a *executionActor) requestStop(ctx actor.Context, req *stopRequest) {
	if a.ending || a.stop != nil {
		return
	}
	a.stop = req
	if a.running {
		a.cancelRun(errCancelled)
		root, self, gen := a.sys.actors.Root, a.self, a.gen
		time.AfterFunc(cancelGracePeriod, func() { root.Send(self, &cancelGrace{gen: gen}) })
		return
	}
	if a.suspended != nil {
		a.suspended.Stop()
		a.suspended = nil
	}
	a.finishStopped()
}

// finishStopped records execution_cancelled (or a timeout failure), after
// an error event for each step the stop interrupted, in one commit. The
// snapshot of a cancelled execution carries the reason as its error.
func (a *executionActor) finishStopped() {
	a.inbox.failWaiters(errCancelled)
	if a.stop.timedOut {
		closing := a.open.close(events.ErrorInfo{Message: a.stop.reason, Code: codeTimeout})
		a.finishAfter(closing, nil, workflows.NonRetryable(&workflows.CodedError{Code: codeTimeout, Message: a.stop.reason}))
		return
	}
	now := time.Now().UTC()
	cancelled := events.New(events.ExecutionCancelled, events.ExecutionEndDetails{
		Reason: a.stop.reason, DurationMS: now.Sub(a.exec.CreatedAt).Milliseconds(),
	})
	a.append(persistence.Write{
		Events: append(a.open.close(cancelledStep(a.stop.reason)), cancelled),
		Status: &persistence.StatusUpdate{Status: weft.StatusCancelled, Error: cancelledError(a.stop.reason), At: now},
	}, nil)
}

// codeTimeout is the error code of an execution past its timeout, and of
// the steps the timeout interrupted.
const codeTimeout = "TIMEOUT"

// cancelledError is the error a cancelled execution's snapshot shows.
func cancelledError(reason string) *events.ErrorInfo {
	return &events.ErrorInfo{Message: cmp.Or(reason, "cancelled"), Code: events.CodeCancelled}
}

// journal is a run's handle on its execution actor.
type journal struct {
	root  *actor.RootContext
	pid   *actor.PID
	gen   int
	steps map[string]persistence.Step // read-only: the checkpoints at run start

	credits emitCredits     // the actor's bound on uncommitted emits
	done    <-chan struct{} // the run's context is done
}

var _ workflows.Journal = (*journal)(nil)

func (j *journal) Recorded(stepID string) (persistence.Step, bool) {
	s, ok := j.steps[stepID]
	return s, ok
}

// Emit sends an event without waiting for its commit, but not more than
// maxUncommittedEmits ahead of the store: then it waits (backpressure).
func (j *journal) Emit(e events.Event) {
	if !j.credits.take(j.done) {
		return // the run is ending
	}
	j.root.Send(j.pid, &appendEvents{gen: j.gen, events: []events.Event{e}, credits: 1})
}

func (j *journal) Checkpoint(ctx context.Context, cp workflows.Checkpoint) error {
	reply := make(chan error, 1)
	step := cp.Step
	j.root.Send(j.pid, &appendEvents{gen: j.gen, events: cp.Events, step: &step, consume: cp.ConsumeSignal, reply: reply})
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (j *journal) TakeSignal(ctx context.Context, name string, wait time.Duration) (persistence.Signal, bool, error) {
	reply := make(chan takeResult, 1)
	j.root.Send(j.pid, &takeSignal{name: name, wait: wait, reply: reply})
	select {
	case r := <-reply:
		return r.sig, r.ok, r.err
	case <-ctx.Done():
		return persistence.Signal{}, false, context.Cause(ctx)
	}
}

func (j *journal) Suspend(wakeAt time.Time, signal string) {
	j.root.Send(j.pid, &suspendRun{gen: j.gen, wakeAt: wakeAt, signal: signal})
	runtime.Goexit()
}
