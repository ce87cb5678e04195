package actors

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

// Concurrency control lives in the executions supervisor, the one place
// that knows which executions are live. A workflow with limits
// (workflows.MaxConcurrent, ConcurrencyKey, MaxStartsPerSecond) gets a slot
// per running execution; starts over a limit are stored as queued and
// started in FIFO order (per key) as slots free up.

// Messages of executionsSupervisor about admission.
type (
	// admitExecution asks for a slot before the execution is stored:
	// reply true means run now (the slot is reserved), false means it was
	// queued (the record follows with queuedCreated).
	admitExecution struct {
		id, workflow, key string
		reply             chan<- bool
	}
	// queuedCreated hands over the stored record of a queued execution.
	queuedCreated struct{ exec persistence.Execution }
	// releaseSlot gives back a reservation whose execution was not stored.
	releaseSlot struct{ id string }
	// cancelQueued takes a queued execution out of the queue; reply says
	// whether it was queued (then the caller records the cancellation).
	cancelQueued struct {
		id    string
		reply chan<- bool
	}
	// admitQueued re-runs admission (a rate limit has tokens again).
	admitQueued struct{}
)

type slotKey struct{ workflow, key string }

// queued is one execution waiting for a slot: its id and slot only (its
// actor loads the record when admitted). stored is false until its record
// is stored; granted means it got a slot before that.
type queued struct {
	id      string
	slot    slotKey
	stored  bool
	granted bool
}

// admission is the supervisor's bookkeeping of slots and the queue.
type admission struct {
	running    map[string]int     // running executions by workflow
	runningKey map[slotKey]int    // running executions by workflow and key
	slots      map[string]slotKey // execution id -> the slot it holds
	queue      []*queued          // FIFO
	limiters   map[string]*rate.Limiter
	rateTimer  *time.Timer
}

func newAdmission() admission {
	return admission{
		running: map[string]int{}, runningKey: map[slotKey]int{},
		slots: map[string]slotKey{}, limiters: map[string]*rate.Limiter{},
	}
}

// fits reports whether one more execution of slot may run now under c,
// and takes a rate token if so.
func (a *admission) fits(slot slotKey, c workflows.Concurrency) bool {
	if c.Max > 0 && a.running[slot.workflow] >= c.Max {
		return false
	}
	if c.PerKey > 0 && slot.key != "" && a.runningKey[slot] >= c.PerKey {
		return false
	}
	if c.Rate > 0 {
		lim := a.limiters[slot.workflow]
		if lim == nil {
			lim = rate.NewLimiter(rate.Limit(c.Rate), max(1, int(c.Rate)))
			a.limiters[slot.workflow] = lim
		}
		return lim.Allow()
	}
	return true
}

func (a *admission) take(id string, slot slotKey) {
	if _, held := a.slots[id]; held {
		return
	}
	a.slots[id] = slot
	a.running[slot.workflow]++
	a.runningKey[slot]++
}

func (a *admission) release(id string) {
	slot, ok := a.slots[id]
	if !ok {
		return
	}
	delete(a.slots, id)
	a.running[slot.workflow]--
	if a.runningKey[slot]--; a.runningKey[slot] <= 0 {
		delete(a.runningKey, slot)
	}
}

func (a *admission) queuedIndex(id string) int {
	return slices.IndexFunc(a.queue, func(q *queued) bool { return q.id == id })
}

// handleAdmission processes the admission messages; it reports false for
// any other message.
func (s *executionsSupervisor) handleAdmission(ctx actor.Context, msg any) bool {
	a := &s.admit
	switch msg := msg.(type) {
	case *admitExecution:
		slot := slotKey{msg.workflow, msg.key}
		if !s.queuedAhead(slot) && a.fits(slot, s.limits(msg.workflow)) {
			a.take(msg.id, slot)
			msg.reply <- true
			return true
		}
		a.queue = append(a.queue, &queued{id: msg.id, slot: slot})
		s.sys.metrics.ExecutionsQueued.Inc()
		msg.reply <- false
		s.armRateTimer(msg.workflow)
	case *queuedCreated:
		if i := a.queuedIndex(msg.exec.ID); i >= 0 {
			q := a.queue[i]
			q.stored = true
			if q.granted {
				s.promote(ctx, i)
			}
		}
	case *releaseSlot:
		if i := a.queuedIndex(msg.id); i >= 0 {
			a.queue = slices.Delete(a.queue, i, i+1)
			s.sys.metrics.ExecutionsQueued.Dec()
		}
		a.release(msg.id)
		s.admitFromQueue(ctx)
	case *cancelQueued:
		i := a.queuedIndex(msg.id)
		if i >= 0 && !a.queue[i].granted {
			a.queue = slices.Delete(a.queue, i, i+1)
			s.sys.metrics.ExecutionsQueued.Dec()
		}
		msg.reply <- i >= 0
	case *admitQueued:
		a.rateTimer = nil
		s.admitFromQueue(ctx)
	default:
		return false
	}
	return true
}

// queuedAhead reports whether an earlier start of the same slot waits:
// a new start must not overtake it (FIFO per key).
func (s *executionsSupervisor) queuedAhead(slot slotKey) bool {
	c := s.limits(slot.workflow)
	return slices.ContainsFunc(s.admit.queue, func(q *queued) bool {
		return q.slot.workflow == slot.workflow && (q.slot.key == slot.key || c.Max > 0 || c.Rate > 0)
	})
}

func (s *executionsSupervisor) limits(workflow string) workflows.Concurrency {
	if def, ok := s.sys.registry.Lookup(workflow); ok {
		return def.Concurrency()
	}
	return workflows.Concurrency{}
}

// admitFromQueue starts, in FIFO order, every queued execution that fits.
// Never while the server drains or stops: executions stopping would free
// slots, and promoting queued ones then would store them as running.
func (s *executionsSupervisor) admitFromQueue(ctx actor.Context) {
	if s.stopping || s.sys.draining() {
		return
	}
	a := &s.admit
	blocked := map[slotKey]bool{} // keep FIFO per key: skip a key once one of it waits
	for i := 0; i < len(a.queue); i++ {
		q := a.queue[i]
		if q.granted || blocked[q.slot] {
			continue
		}
		if !a.fits(q.slot, s.limits(q.slot.workflow)) {
			blocked[q.slot] = true
			s.armRateTimer(q.slot.workflow)
			continue
		}
		a.take(q.id, q.slot)
		q.granted = true
		if q.stored {
			s.promote(ctx, i)
			i--
		}
	}
}

// promote starts the queued execution at index i (its slot is taken).
func (s *executionsSupervisor) promote(ctx actor.Context, i int) {
	q := s.admit.queue[i]
	s.admit.queue = slices.Delete(s.admit.queue, i, i+1)
	s.sys.metrics.ExecutionsQueued.Dec()
	s.spawnID(ctx, q.id)
}

// armRateTimer schedules another admission pass when a rate-limited
// workflow gets its next token.
func (s *executionsSupervisor) armRateTimer(workflow string) {
	lim := s.admit.limiters[workflow]
	if lim == nil || s.admit.rateTimer != nil {
		return
	}
	wait := max(time.Duration(float64(time.Second)/float64(lim.Limit())), time.Millisecond)
	root, self := s.sys.actors.Root, s.self
	s.admit.rateTimer = time.AfterFunc(wait, func() { root.Send(self, &admitQueued{}) })
}

// recoverQueued puts a stored queued execution (found at start-up) back in
// the queue.
func (s *executionsSupervisor) recoverQueued(ctx actor.Context, exec persistence.Execution) {
	if s.admit.queuedIndex(exec.ID) >= 0 {
		return
	}
	slot := slotKey{exec.Workflow, s.limits(exec.Workflow).KeyOf(exec.Parameters)}
	s.admit.queue = append(s.admit.queue, &queued{id: exec.ID, slot: slot, stored: true})
	s.sys.metrics.ExecutionsQueued.Inc()
	s.admitFromQueue(ctx)
}
