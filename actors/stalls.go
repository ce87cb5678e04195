package actors

import (
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/weft-run/weft/persistence"
)

// Messages of executionsSupervisor about stalled executions.
type (
	// executionStalled: an execution actor stopped because the store
	// failed a write or a load (a full disk, say). Its execution is still
	// unfinished in the store.
	executionStalled struct {
		exec persistence.Execution
		err  error
	}
	// retryStalled: time to start a stalled execution again.
	retryStalled struct{ exec persistence.Execution }
)

// Backoff of stalled executions: the first retry after stallFirstRetry,
// doubling up to stallMaxRetry, with jitter so that the executions of one
// full disk do not all retry at once. A stall more than stallForget after
// the previous one of the same execution starts again from the first.
const (
	stallFirstRetry = 100 * time.Millisecond
	stallMaxRetry   = 30 * time.Second
	stallForget     = time.Minute
)

// stalls remembers the executions waiting to be retried.
type stalls struct {
	attempts map[string]stallRecord
	timers   map[string]*time.Timer
}

type stallRecord struct {
	n    int
	last time.Time
}

func newStalls() stalls {
	return stalls{attempts: map[string]stallRecord{}, timers: map[string]*time.Timer{}}
}

// handleStalls handles the supervisor's stall messages; false for others.
// A stalled execution is started again after a backoff, from what is
// durable (its recorded steps fast-forward), as often as it takes: a full
// disk that gets space back sees its executions go on by themselves.
func (s *executionsSupervisor) handleStalls(ctx actor.Context, msg any) bool {
	switch msg := msg.(type) {
	case *executionStalled:
		id := msg.exec.ID
		rec := s.stalls.attempts[id]
		if time.Since(rec.last) > stallForget {
			rec.n = 0
		}
		rec.n++
		rec.last = time.Now()
		s.stalls.attempts[id] = rec
		delay := stallBackoff(rec.n)
		s.sys.metrics.ExecutionStalls.Inc()
		s.sys.log.Warn().Err(msg.err).Str("execution_id", id).Int("attempt", rec.n).Dur("retry_in", delay).
			Msg("execution stalled on the store; will run it again from what is durable")
		root, self := s.sys.actors.Root, s.self
		exec := msg.exec
		if t := s.stalls.timers[id]; t != nil {
			t.Stop()
		}
		s.stalls.timers[id] = time.AfterFunc(delay, func() { root.Send(self, &retryStalled{exec: exec}) })
		return true
	case *retryStalled:
		delete(s.stalls.timers, msg.exec.ID)
		if !s.stopping {
			s.startStored(ctx, msg.exec, false)
		}
		return true
	}
	return false
}

// stallBackoff is the wait before the nth retry.
func stallBackoff(n int) time.Duration {
	d := stallFirstRetry << min(n-1, 20)
	if d > stallMaxRetry || d <= 0 {
		d = stallMaxRetry
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// stopStallTimers cancels pending retries (the server is stopping: the
// executions resume at next start).
func (s *executionsSupervisor) stopStallTimers() {
	for id, t := range s.stalls.timers {
		t.Stop()
		delete(s.stalls.timers, id)
	}
}
