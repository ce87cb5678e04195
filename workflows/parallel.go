package workflows

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"time"

	"github.com/weft-run/weft/checkpoint"
)

// Future is the result of a branch started with Go.
type Future[T any] struct {
	done   chan struct{}
	val    T
	err    error
	parked bool // the branch exited at a step boundary (draining)
}

// Go runs fn as a parallel branch of the workflow. Its steps get ids under
// the branch's own position ("3.1", "3.2", ...), fixed by where Go is
// called, never by which branch finishes first, so a re-run maps recorded
// results back to the right steps.
func Go[T any](ctx Context, fn func(ctx Context) (T, error)) *Future[T] {
	c := ctx.state()
	branch := c.scope(c.nextStepID(), true)
	f := &Future[T]{done: make(chan struct{})}
	c.run.branches.Add(1)
	go func() {
		returned := false
		defer func() {
			f.parked = !returned // runtime.Goexit: the run is draining
			c.run.branches.Add(-1)
			close(f.done)
		}()
		f.val, f.err = callProtected(func() (T, error) { return fn(branch) })
		returned = true
	}()
	return f
}

// Get waits for the branch and returns its result. If the branch was parked
// (the server is draining), the caller parks too rather than see a result
// the branch never produced.
func (f *Future[T]) Get(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		if f.parked {
			runtime.Goexit()
		}
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Done is closed when the branch has returned.
func (f *Future[T]) Done() <-chan struct{} { return f.done }

// All waits for every future and returns their results in order, or the
// first error in order.
func All[T any](ctx Context, futures ...*Future[T]) ([]T, error) {
	out := make([]T, len(futures))
	for i, f := range futures {
		v, err := f.Get(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// doner is any Future.
type doner interface{ Done() <-chan struct{} }

// First waits until one of the futures is done and returns its index. The
// choice is recorded as a step: a re-run gets the same index, whichever
// branch finishes first this time.
func First(ctx Context, futures ...doner) (int, error) {
	c := ctx.state()
	id := c.nextStepID()
	if rec, ok := c.run.journal.Recorded(id); ok {
		idx, err := replayStep[int](id, rec, "select", "first")
		if err != nil {
			return 0, err
		}
		if idx < 0 || idx >= len(futures) {
			return 0, NonRetryable(fmt.Errorf("recorded first %d of %d futures", idx, len(futures)))
		}
		select {
		case <-futures[idx].Done():
			return idx, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if len(futures) == 0 {
		return 0, NonRetryable(fmt.Errorf("First of no futures"))
	}
	cases := make([]reflect.SelectCase, 0, len(futures)+1)
	for _, f := range futures {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(f.Done())})
	}
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	idx, _, _ := reflect.Select(cases)
	if idx == len(futures) {
		return 0, ctx.Err()
	}
	now := time.Now().UTC()
	rec := checkpoint.Step{ID: id, Kind: "select", Name: "first", Output: []byte(fmt.Sprint(idx)), StartedAt: now, CompletedAt: now}
	return idx, c.run.journal.Checkpoint(ctx, Checkpoint{Step: rec})
}
