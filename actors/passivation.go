package actors

import (
	"container/heap"
	"container/list"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Passivation: an execution at rest costs (almost) no memory.
//
// A suspended execution (a durable sleep, a signal wait, a retry backoff)
// keeps its actor warm for a while: the executions supervisor keeps the
// suspended actors in an LRU, and stops the least recently suspended once
// there are more than Config.WarmExecutions of them, or once one has been
// suspended for Config.PassivateAfter. A stopped ("passivated") execution
// leaves one small passiveEntry: its id and, for a wait with a deadline, its
// wake time in one min-heap driven by ONE timer. When the heap's earliest
// entry is due the supervisor spawns every due execution: its actor loads
// it from the store and runs the workflow from the top (recorded steps
// fast-forward, the pending wait sees that it is due). A signal, a cancel
// or anything else routed to a passivated execution spawns its actor the
// same way (routeExecution with spawn). Reads (execution.get, subscribe,
// history) go to the store and need no actor.
//
// Stopping is a handshake, so that nothing routed to the execution is lost
// while its actor stops: the supervisor asks (passivate), the actor answers
// when it is suspended with no write in flight (passivateReady), and the
// supervisor stops it only if nothing was routed to it meanwhile; what is
// routed while it stops is kept and delivered to a new actor spawned at
// once.

// Defaults of Config.WarmExecutions and Config.PassivateAfter.
const (
	defaultWarmExecutions = 10_000
	defaultPassivateAfter = 30 * time.Second
)

// Messages about passivation.
type (
	// executionSuspended (actor -> supervisor): the run unwound to wait.
	executionSuspended struct {
		id  string
		pid *actor.PID
	}
	// executionResumed (actor -> supervisor): the wait is over.
	executionResumed struct {
		id  string
		pid *actor.PID
	}
	// passivate (supervisor -> actor): stop if you still rest.
	passivate struct{}
	// passivateReady (actor -> supervisor): suspended and idle, until
	// wakeAt (zero: until a signal).
	passivateReady struct {
		id     string
		pid    *actor.PID
		wakeAt time.Time
	}
	// passivateAborted (supervisor -> actor): something was routed to
	// the execution meanwhile; keep the actor.
	passivateAborted struct{}
	// passivateStored (Recover -> supervisor): a waiting execution found
	// at start-up, put to rest without an actor.
	passivateStored struct {
		id     string
		wakeAt time.Time
		slot   *slotKey // the concurrency slot it holds, if its workflow is limited
	}
	// wakeDue: the wake heap's earliest entry is due.
	wakeDue struct{}
	// sweepWarm: the oldest warm actor may have rested long enough.
	sweepWarm struct{}
)

// liveExec is the supervisor's view of one execution actor.
type liveExec struct {
	pid       *actor.PID
	warm      *list.Element // in passivation.warm while suspended
	requested bool          // passivate sent, not answered, nothing routed since
	stopping  bool          // stopped for passivation: Terminated follows
	wakeAt    time.Time     // when stopping: the wait's end
	pending   []any         // routed while stopping: delivered to a new actor
}

// passiveEntry is all that stays in memory of a passivated execution.
type passiveEntry struct {
	id    string
	at    int64 // wake time, unix ns; 0: no deadline (not in the heap)
	index int   // in wakeHeap, -1 if not there
}

type wakeHeap []*passiveEntry

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h wakeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *wakeHeap) Push(x any) {
	e := x.(*passiveEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *wakeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// passivation is the supervisor's bookkeeping of warm and passivated
// executions.
type passivation struct {
	warmLimit int           // < 0: no limit
	idleAfter time.Duration // < 0: never by idle time
	warm      *list.List    // of *warmEntry, least recently suspended first
	passive   map[string]*passiveEntry
	wakes     wakeHeap
	wakeTimer *time.Timer
	wakeAt    int64 // what wakeTimer is set for (0: not set)
	idleTimer *time.Timer
	idleAt    time.Time
}

type warmEntry struct {
	id    string
	since time.Time
}

func newPassivation(warmLimit int, idleAfter time.Duration) passivation {
	if warmLimit == 0 {
		warmLimit = defaultWarmExecutions
	}
	if idleAfter == 0 {
		idleAfter = defaultPassivateAfter
	}
	return passivation{warmLimit: warmLimit, idleAfter: idleAfter, warm: list.New(), passive: map[string]*passiveEntry{}}
}

// childID is the execution id of a child actor's PID (spawned under the
// name of its execution id).
func (s *executionsSupervisor) childID(pid *actor.PID) string {
	return strings.TrimPrefix(pid.Id, s.self.Id+"/")
}

// handlePassivation processes the passivation messages; false for others.
func (s *executionsSupervisor) handlePassivation(ctx actor.Context, msg any) bool {
	p := &s.pass
	switch msg := msg.(type) {
	case *executionSuspended:
		h := s.live[msg.id]
		if h == nil || !h.pid.Equal(msg.pid) || h.stopping {
			return true
		}
		h.requested = false
		if h.warm != nil {
			p.warm.Remove(h.warm)
		}
		h.warm = p.warm.PushBack(&warmEntry{id: msg.id, since: time.Now()})
		s.evictWarm(ctx)
	case *executionResumed:
		if h := s.live[msg.id]; h != nil && h.pid.Equal(msg.pid) {
			s.unwarm(h)
		}
	case *passivateReady:
		h := s.live[msg.id]
		if h == nil || !h.pid.Equal(msg.pid) || !h.requested || s.stopping {
			ctx.Send(msg.pid, &passivateAborted{})
			return true
		}
		h.requested, h.stopping, h.wakeAt = false, true, msg.wakeAt
		s.unwarm(h)
		ctx.Stop(msg.pid)
	case *passivateStored:
		if _, live := s.live[msg.id]; live || s.stopping {
			return true
		}
		if msg.slot != nil {
			s.admit.take(msg.id, *msg.slot)
		}
		s.rest(msg.id, msg.wakeAt)
	case *wakeDue:
		p.wakeAt = 0
		s.wakeDue(ctx)
	case *sweepWarm:
		p.idleAt = time.Time{}
		s.evictWarm(ctx)
	default:
		return false
	}
	return true
}

// unwarm takes h out of the warm set.
func (s *executionsSupervisor) unwarm(h *liveExec) {
	if h.warm != nil {
		s.pass.warm.Remove(h.warm)
		h.warm = nil
	}
}

// evictWarm asks the warm actors over the limit, and those suspended for
// longer than idleAfter, to passivate; then arms the idle timer for the
// next one.
func (s *executionsSupervisor) evictWarm(ctx actor.Context) {
	p := &s.pass
	now := time.Now()
	for e := p.warm.Front(); e != nil; e = p.warm.Front() {
		w := e.Value.(*warmEntry)
		over := p.warmLimit >= 0 && p.warm.Len() > p.warmLimit
		idle := p.idleAfter >= 0 && now.Sub(w.since) >= p.idleAfter
		if !over && !idle {
			break
		}
		h := s.live[w.id]
		p.warm.Remove(e)
		if h == nil {
			continue
		}
		h.warm = nil
		h.requested = true
		ctx.Send(h.pid, &passivate{})
	}
	if p.idleAfter < 0 || s.stopping {
		return
	}
	front := p.warm.Front()
	if front == nil {
		return
	}
	due := front.Value.(*warmEntry).since.Add(p.idleAfter)
	if !p.idleAt.IsZero() && !p.idleAt.After(due) {
		return // the timer fires before (then re-arms)
	}
	p.idleAt = due
	root, self := s.sys.actors.Root, s.self
	if p.idleTimer == nil {
		p.idleTimer = time.AfterFunc(time.Until(due), func() { root.Send(self, &sweepWarm{}) })
		return
	}
	p.idleTimer.Reset(time.Until(due))
}

// rest records a passivated execution: in the wake heap if its wait has a
// deadline, only in the passive map otherwise.
func (s *executionsSupervisor) rest(id string, wakeAt time.Time) {
	p := &s.pass
	if old := p.passive[id]; old != nil {
		s.wakeOne(old) // a duplicate: replace it
	}
	e := &passiveEntry{id: id, index: -1}
	if !wakeAt.IsZero() {
		e.at = max(wakeAt.UnixNano(), 1)
		heap.Push(&p.wakes, e)
	}
	p.passive[id] = e
	s.sys.metrics.ExecutionsPassivated.Set(float64(len(p.passive)))
	s.armWake()
}

// wakeOne forgets the passive entry of e (its actor is about to spawn).
func (s *executionsSupervisor) wakeOne(e *passiveEntry) {
	p := &s.pass
	if e.index >= 0 {
		heap.Remove(&p.wakes, e.index)
	}
	delete(p.passive, e.id)
	s.sys.metrics.ExecutionsPassivated.Set(float64(len(p.passive)))
}

// armWake sets the one wake timer for the heap's earliest entry.
func (s *executionsSupervisor) armWake() {
	p := &s.pass
	if len(p.wakes) == 0 || s.stopping {
		return
	}
	at := p.wakes[0].at
	if p.wakeAt != 0 && p.wakeAt <= at {
		return
	}
	p.wakeAt = at
	d := time.Until(time.Unix(0, at))
	if p.wakeTimer == nil {
		root, self := s.sys.actors.Root, s.self
		p.wakeTimer = time.AfterFunc(d, func() { root.Send(self, &wakeDue{}) })
		return
	}
	p.wakeTimer.Reset(d)
}

// wakeDue spawns every passivated execution whose wait is over.
func (s *executionsSupervisor) wakeDue(ctx actor.Context) {
	p := &s.pass
	if s.stopping {
		return
	}
	now := time.Now().UnixNano()
	for len(p.wakes) > 0 && p.wakes[0].at <= now {
		e := heap.Pop(&p.wakes).(*passiveEntry)
		delete(p.passive, e.id)
		s.spawnID(ctx, e.id)
	}
	s.sys.metrics.ExecutionsPassivated.Set(float64(len(p.passive)))
	s.armWake()
}

// stopPassivationTimers: the server is stopping.
func (s *executionsSupervisor) stopPassivationTimers() {
	if t := s.pass.wakeTimer; t != nil {
		t.Stop()
	}
	if t := s.pass.idleTimer; t != nil {
		t.Stop()
	}
}

// passivated handles the Terminated of an actor stopped for passivation:
// the execution rests, or, if something was routed to it while it stopped,
// gets a new actor at once.
func (s *executionsSupervisor) passivated(ctx actor.Context, id string, h *liveExec) {
	if s.stopping {
		return
	}
	if len(h.pending) == 0 {
		s.rest(id, h.wakeAt)
		return
	}
	pid, ok := s.spawnID(ctx, id)
	if !ok {
		return
	}
	for _, m := range h.pending {
		ctx.Send(pid, m)
	}
}
