package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/weft-run/weft/checkpoint"
	"github.com/weft-run/weft/events"
)

var errTimeout = errors.New("step timed out")

// StepOption configures one step call.
type StepOption func(*stepOptions)

type stepOptions struct {
	retry          RetryPolicy
	attemptTimeout time.Duration
	stepTimeout    time.Duration
	input          any
}

// WithRetry sets the step's retry policy.
func WithRetry(p RetryPolicy) StepOption { return func(o *stepOptions) { o.retry = p } }

// WithTimeout bounds each attempt of the step.
func WithTimeout(d time.Duration) StepOption { return func(o *stepOptions) { o.attemptTimeout = d } }

// WithStepTimeout bounds the step as a whole, retries and waits included.
func WithStepTimeout(d time.Duration) StepOption { return func(o *stepOptions) { o.stepTimeout = d } }

// WithInput shows v as the step's input in its start event.
func WithInput(v any) StepOption { return func(o *stepOptions) { o.input = v } }

func newStepOptions(opts []StepOption) stepOptions {
	var o stepOptions
	for _, opt := range opts {
		opt(&o)
	}
	o.retry = o.retry.orDefault()
	return o
}

// attempt describes one try of a step, for building its events.
type attempt struct {
	stepID  string
	name    string
	number  int
	elapsed time.Duration
}

// stepSpec is what differs between step kinds: their events and their body.
type stepSpec[T any] struct {
	kind    string
	name    string
	opts    stepOptions
	started func(a attempt) events.Event
	ended   func(a attempt, out json.RawMessage) events.Event
	failed  func(a attempt, err *events.ErrorInfo, willRetry bool, retryIn time.Duration) events.Event
	body    func(ctx context.Context, a attempt) (T, error)
}

// runStep is the durable-step machinery shared by every kind: memoization,
// attempts with retry and timeouts, and the checkpoint.
func runStep[T any](ctx Context, s stepSpec[T]) (T, error) {
	c := ctx.state()
	id := c.nextStepID()
	var zero T
	begin, first := time.Now().UTC(), 1
	if rec, ok := c.run.journal.Recorded(id); ok {
		if !rec.Pending() || rec.Kind != s.kind || rec.Name != s.name {
			return replayStep[T](id, rec, s.kind, s.name)
		}
		// A retry wait was in progress: resume it where it was.
		begin, first = rec.StartedAt, rec.Attempts+1
		if err := c.waitUntil(ctx, rec.WakeAt, ""); err != nil {
			return zero, err
		}
	}
	stepCtx, cancelStep := withOptionalTimeout(ctx, s.opts.stepTimeout-time.Since(begin), s.opts.stepTimeout > 0)
	defer cancelStep()
	for n := first; ; n++ {
		c.run.parkIfDraining()
		a := attempt{stepID: id, name: s.name, number: n}
		c.run.journal.Emit(s.started(a))
		out, err := runAttempt(stepCtx, s, a)
		a.elapsed = time.Since(begin)
		if err == nil {
			raw, encErr := json.Marshal(out)
			if encErr == nil {
				rec := checkpoint.Step{ID: id, Kind: s.kind, Name: s.name, Output: raw, Attempts: n, StartedAt: begin, CompletedAt: time.Now().UTC()}
				if err := c.run.journal.Checkpoint(ctx, Checkpoint{Step: rec, Events: []events.Event{s.ended(a, raw)}}); err != nil {
					return zero, err
				}
				return out, nil
			}
			err = NonRetryable(fmt.Errorf("encode step output: %w", encErr))
		}
		if ctx.Err() != nil {
			// Cancelled or shutting down: not a failure of the step, and
			// nothing is recorded, so a resumed run tries it again.
			return zero, ctx.Err()
		}
		if stepCtx.Err() != nil {
			err = NonRetryable(fmt.Errorf("%w after %s", errTimeout, s.opts.stepTimeout))
		}
		info := ErrorInfo(err)
		if s.opts.retry.retryable(n, err) {
			wait := s.opts.retry.backoff(n)
			// The wait is recorded, so a restart resumes it instead of
			// starting the step over.
			pending := checkpoint.Step{ID: id, Kind: s.kind, Name: s.name, State: checkpoint.StatePending,
				Attempts: n, StartedAt: begin, WakeAt: time.Now().UTC().Add(wait)}
			cp := Checkpoint{Step: pending, Events: []events.Event{s.failed(a, info, true, wait)}}
			if err := c.run.journal.Checkpoint(ctx, cp); err != nil {
				return zero, err
			}
			if err := c.waitUntil(stepCtx, pending.WakeAt, ""); err != nil && ctx.Err() != nil {
				return zero, ctx.Err()
			}
			continue // a step deadline hit during the wait is seen by the next attempt
		}
		rec := checkpoint.Step{ID: id, Kind: s.kind, Name: s.name, Error: info, Attempts: n, StartedAt: begin, CompletedAt: time.Now().UTC()}
		if err := c.run.journal.Checkpoint(ctx, Checkpoint{Step: rec, Events: []events.Event{s.failed(a, info, false, 0)}}); err != nil {
			return zero, err
		}
		return zero, &StepError{StepID: id, Name: s.name, Info: *info}
	}
}

// runAttempt runs one attempt under its own timeout, recovering panics.
func runAttempt[T any](ctx context.Context, s stepSpec[T], a attempt) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	attemptCtx, cancel := withOptionalTimeout(ctx, s.opts.attemptTimeout, s.opts.attemptTimeout > 0)
	defer cancel()
	attemptCtx = context.WithValue(attemptCtx, attemptKey{}, a.number)
	out, err := callProtected(func() (T, error) { return s.body(attemptCtx, a) })
	if err != nil && attemptCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		err = fmt.Errorf("%w: attempt exceeded %s", errTimeout, s.opts.attemptTimeout)
	}
	return out, err
}

// replayStep returns a recorded step's result, checking that the code still
// asks for the same step at this position.
func replayStep[T any](id string, rec checkpoint.Step, kind, name string) (T, error) {
	var out T
	if rec.Kind != kind || rec.Name != name {
		return out, NonRetryable(&NondeterminismError{
			StepID: id, RecordedKind: rec.Kind, RecordedName: rec.Name,
			RequestedKind: kind, RequestedName: name,
		})
	}
	if rec.Error != nil {
		return out, &StepError{StepID: id, Name: name, Info: *rec.Error}
	}
	if len(rec.Output) > 0 {
		if err := json.Unmarshal(rec.Output, &out); err != nil {
			return out, NonRetryable(fmt.Errorf("decode recorded output of step %s: %w", id, err))
		}
	}
	return out, nil
}

// withOptionalTimeout bounds ctx by d when on (d may be <= 0: already due).
func withOptionalTimeout(ctx context.Context, d time.Duration, on bool) (context.Context, context.CancelFunc) {
	if !on {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

type attemptKey struct{}

// Attempt returns the 1-based attempt number of the step running with ctx
// (0 outside a step).
func Attempt(ctx context.Context) int {
	n, _ := ctx.Value(attemptKey{}).(int)
	return n
}

// errDraining ends a wait when the server drains (see Run.Drain).
var errDraining = errors.New("draining")

// sleepCtx waits d, or until ctx ends (its error), or until drain is
// closed (errDraining; a nil drain never is).
func sleepCtx(ctx context.Context, d time.Duration, drain <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-drain:
		return errDraining
	}
}

func millis(d time.Duration) *int64 {
	ms := d.Milliseconds()
	return &ms
}

func ptr[T any](v T) *T { return &v }

func encodeInput(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return raw
}
