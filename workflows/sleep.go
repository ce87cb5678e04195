package workflows

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/weft-run/weft/checkpoint"
	"github.com/weft-run/weft/events"
)

const defaultSuspendAfter = time.Second

func (c *wctx) suspendAfter() time.Duration {
	if d := c.run.env.SuspendAfter; d > 0 {
		return d
	}
	return defaultSuspendAfter
}

// Sleep pauses the workflow durably: the wake time is recorded, so after a
// restart the execution wakes when it was due (at once, if that has passed),
// not d after the restart. A long sleep in the workflow's own goroutine
// costs no goroutine while it waits: the execution keeps only a timer and
// runs the workflow again from the top when it fires. Events: timer_started,
// then timer_fired, each exactly once whatever restarts happen between.
func Sleep(ctx Context, d time.Duration) error {
	c := ctx.state()
	id := c.nextStepID()
	rec, recorded := c.run.journal.Recorded(id)
	if recorded && !rec.Pending() {
		_, err := replayStep[struct{}](id, rec, "sleep", "sleep")
		return err
	}
	if recorded && rec.Kind != "sleep" {
		_, err := replayStep[struct{}](id, rec, "sleep", "sleep")
		return err
	}
	started := time.Now().UTC()
	wake := started.Add(d)
	if recorded {
		started, wake = rec.StartedAt, rec.WakeAt
	} else {
		// timer_started commits with the pending checkpoint, and
		// timer_fired below with the completed one: a resumed run finds
		// the checkpoint and emits neither again.
		pending := checkpoint.Step{ID: id, Kind: "sleep", Name: "sleep", State: checkpoint.StatePending, StartedAt: started, WakeAt: wake}
		cp := Checkpoint{Step: pending, Events: timerEvent(events.TimerStarted, id, wake, "")}
		if err := c.run.journal.Checkpoint(ctx, cp); err != nil {
			return err
		}
	}
	if err := c.waitUntil(ctx, wake, ""); err != nil {
		return err
	}
	done := checkpoint.Step{ID: id, Kind: "sleep", Name: "sleep", StartedAt: started, WakeAt: wake, CompletedAt: time.Now().UTC()}
	return c.run.journal.Checkpoint(ctx, Checkpoint{Step: done, Events: timerEvent(events.TimerFired, id, wake, "")})
}

// waitUntil blocks until wake, suspending the workflow when the wait is
// long and nothing else of it runs.
func (c *wctx) waitUntil(ctx context.Context, wake time.Time, signal string) error {
	remaining := time.Until(wake)
	if remaining <= 0 {
		return nil
	}
	if c.canSuspend() && remaining > c.suspendAfter() {
		c.run.journal.Suspend(wake, signal) // does not return
	}
	err := sleepCtx(ctx, remaining, c.run.drain)
	if errors.Is(err, errDraining) {
		runtime.Goexit() // the wait is recorded: it resumes at next start
	}
	return err
}

// ErrSignalTimeout is the error code of a signal wait that timed out.
const ErrSignalTimeout = "SIGNAL_TIMEOUT"

// WaitSignal waits for the signal named name and returns its payload
// decoded as T. A signal sent before the wait is kept for it. timeout 0
// waits for ever; otherwise the step fails with a StepError coded
// SIGNAL_TIMEOUT. The wait survives restarts, and a long one costs no
// goroutine. Events: signal_waiting (with the deadline, if any), then
// signal_received, or timer_fired (with the signal's name) when the
// timeout passes first.
func WaitSignal[T any](ctx Context, name string, timeout time.Duration) (T, error) {
	var zero T
	c := ctx.state()
	id := c.nextStepID()
	rec, recorded := c.run.journal.Recorded(id)
	if recorded && (!rec.Pending() || rec.Kind != "signal" || rec.Name != name) {
		return replayStep[T](id, rec, "signal", name)
	}
	started := time.Now().UTC()
	var deadline time.Time
	if timeout > 0 {
		deadline = started.Add(timeout)
	}
	if recorded {
		started, deadline = rec.StartedAt, rec.WakeAt
	} else {
		pending := checkpoint.Step{ID: id, Kind: "signal", Name: name, State: checkpoint.StatePending, StartedAt: started, WakeAt: deadline, Signal: name}
		waiting := newSignalEvent(true, id, name, nil, deadline)
		if err := c.run.journal.Checkpoint(ctx, Checkpoint{Step: pending, Events: waiting}); err != nil {
			return zero, err
		}
	}
	for wait := time.Duration(0); ; {
		sig, ok, err := c.run.journal.TakeSignal(ctx, name, wait)
		if err != nil {
			return zero, err
		}
		if ok {
			return receiveSignal[T](ctx, c, id, name, started, sig)
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return zero, c.signalTimedOut(ctx, id, name, started, deadline)
		}
		wait = 24 * time.Hour
		if !deadline.IsZero() {
			wait = time.Until(deadline)
		}
		if c.canSuspend() && wait > c.suspendAfter() {
			c.run.journal.Suspend(deadline, name) // does not return
		}
	}
}

func receiveSignal[T any](ctx context.Context, c *wctx, id, name string, started time.Time, sig checkpoint.Signal) (T, error) {
	var out T
	done := checkpoint.Step{ID: id, Kind: "signal", Name: name, Output: sig.Payload, StartedAt: started, CompletedAt: time.Now().UTC()}
	err := c.run.journal.Checkpoint(ctx, Checkpoint{Step: done, Events: newSignalEvent(false, id, name, sig.Payload, time.Time{}), ConsumeSignal: sig.Seq})
	if err != nil {
		return out, err
	}
	return replayStep[T](id, done, "signal", name)
}

// signalTimedOut records a signal wait whose deadline passed: the step
// fails with SIGNAL_TIMEOUT, and timer_fired says why in the stream.
func (c *wctx) signalTimedOut(ctx context.Context, id, name string, started, deadline time.Time) error {
	info := &StepError{StepID: id, Name: name}
	info.Info.Code = ErrSignalTimeout
	info.Info.Message = fmt.Sprintf("no signal %q within %s", name, deadline.Sub(started))
	done := checkpoint.Step{ID: id, Kind: "signal", Name: name, Error: &info.Info, StartedAt: started, CompletedAt: time.Now().UTC()}
	if err := c.run.journal.Checkpoint(ctx, Checkpoint{Step: done, Events: timerEvent(events.TimerFired, id, deadline, name)}); err != nil {
		return err
	}
	return info
}
