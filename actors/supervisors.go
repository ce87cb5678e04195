package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// Default restart policy of execution actors (Config.MaxRestarts,
// Config.RestartWindow).
const (
	defaultMaxRestarts   = 3
	defaultRestartWindow = time.Minute
)

// restartThenFail is the supervisor strategy of execution actors. A
// workflow that panics outside a step (a panic inside a step only fails that
// attempt) has its actor restarted, which runs the workflow again from the
// top (recorded steps fast-forward). After max restarts within window the
// execution fails with the panic as its error, instead of the actor being
// stopped silently as proto.actor's one-for-one strategy would.
type restartThenFail struct {
	max    int
	window time.Duration
}

func (r restartThenFail) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, _ any) {
	rs.Fail()
	if rs.NumberOfFailures(r.window) > r.max {
		rs.Reset()
		// Resume the actor so that it records the failure itself.
		sup.ResumeChildren(child)
		sys.Root.Send(child, &giveUp{reason: reason})
		return
	}
	sup.RestartChildren(child)
}

// connectionStrategy stops a connection whose actor panicked: its socket
// state cannot be trusted, and the client reconnects and resumes by seq.
func connectionStrategy() actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(0, time.Second, func(any) actor.Directive {
		return actor.StopDirective
	})
}

// Messages of executionsSupervisor.
type (
	// startExecution spawns the actor of a stored execution.
	startExecution struct {
		exec  persistence.Execution
		fresh bool
	}
	// routeExecution forwards msg to a live execution's actor; reply gets
	// false when none is live.
	routeExecution struct {
		id    string
		msg   any
		spawn *persistence.Execution // spawn the actor first if not live
		found chan<- bool
	}
)

// executionsSupervisor is the parent of every execution actor and the one
// map of which executions are live.
type executionsSupervisor struct {
	sys    *System
	self   *actor.PID
	live   map[string]*liveExec
	admit  admission
	stalls stalls      // stalls.go: executions waiting to be retried
	pass   passivation // passivation.go: warm and passivated executions
	// stopping: the server is shutting down; admit no queued execution.
	stopping bool
}

func newExecutionsSupervisor(sys *System) *executionsSupervisor {
	return &executionsSupervisor{
		sys: sys, live: make(map[string]*liveExec), admit: newAdmission(), stalls: newStalls(),
		pass: newPassivation(sys.warmExecutions, sys.passivateAfter),
	}
}

func (s *executionsSupervisor) Receive(ctx actor.Context) {
	if s.handleAdmission(ctx, ctx.Message()) || s.handleStalls(ctx, ctx.Message()) || s.handlePassivation(ctx, ctx.Message()) {
		return
	}
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		s.self = ctx.Self()
	case *actor.Stopping:
		s.stopping = true
		s.stopStallTimers()
		s.stopPassivationTimers()
	case *startExecution:
		s.startStored(ctx, msg.exec, msg.fresh)
	case *actor.Terminated:
		id := s.childID(msg.Who)
		h := s.live[id]
		if h == nil || !h.pid.Equal(msg.Who) {
			return
		}
		delete(s.live, id)
		s.unwarm(h)
		s.sys.metrics.ExecutionActors.Set(float64(len(s.live)))
		if h.stopping {
			// Passivated: it keeps its concurrency slot while it rests.
			s.passivated(ctx, id, h)
			return
		}
		s.admit.release(id)
		s.admitFromQueue(ctx)
	case *routeExecution:
		s.routeTo(ctx, msg)
	case *dropPartition:
		s.drop(ctx, msg)
	case *startOrphans:
		s.orphans(ctx, msg) // cluster_orphans.go
	}
}

// routeTo forwards a message to an execution's actor, spawning it if it
// is not live and msg.spawn is set (a passivated execution wakes this way).
func (s *executionsSupervisor) routeTo(ctx actor.Context, msg *routeExecution) {
	var pid *actor.PID
	ok := false
	if h := s.live[msg.id]; h != nil {
		switch {
		case h.stopping:
			// Passivating: a new actor gets it once this one is gone.
			h.pending = append(h.pending, msg.msg)
			if msg.found != nil {
				msg.found <- true
			}
			return
		case h.requested:
			h.requested = false // the message may wake it: keep it
		}
		pid, ok = h.pid, true
	} else if msg.spawn != nil {
		// Not live (passivated, or recovery has not reached it yet): its
		// actor reads the durable state, then gets the message.
		pid, ok = s.spawn(ctx, *msg.spawn, false)
	}
	if ok {
		ctx.Send(pid, msg.msg)
	}
	if msg.found != nil {
		msg.found <- ok
	}
}

// startStored starts a stored execution: queued ones wait for their slot,
// others take it and get their actor.
func (s *executionsSupervisor) startStored(ctx actor.Context, exec persistence.Execution, fresh bool) {
	if exec.Status == weft.StatusQueued {
		s.recoverQueued(ctx, exec)
		return
	}
	if c := s.limits(exec.Workflow); c.Limited() {
		s.admit.take(exec.ID, slotKey{exec.Workflow, c.KeyOf(exec.Parameters)})
	}
	s.spawn(ctx, exec, fresh)
}

// spawn starts the actor of a stored execution unless it is live.
func (s *executionsSupervisor) spawn(ctx actor.Context, exec persistence.Execution, fresh bool) (*actor.PID, bool) {
	if h, ok := s.live[exec.ID]; ok {
		return h.pid, true
	}
	if !s.sys.owns(exec.ID) {
		// Cluster mode: its partition is another node's now (a retry, a
		// wake or an admission that outlived the lease).
		return nil, false
	}
	if e := s.pass.passive[exec.ID]; e != nil {
		s.wakeOne(e)
	}
	props := actor.PropsFromProducer(func() actor.Actor { return newExecutionActor(s.sys, exec, fresh) })
	pid, err := ctx.SpawnNamed(props, exec.ID)
	if err != nil {
		s.sys.log.Error().Err(err).Str("execution_id", exec.ID).Msg("spawn execution actor")
		return nil, false
	}
	ctx.Watch(pid)
	s.live[exec.ID] = &liveExec{pid: pid}
	s.sys.metrics.ExecutionActors.Set(float64(len(s.live)))
	return pid, true
}

// spawnID starts the actor of a stored execution known by its id only
// (its actor loads the record).
func (s *executionsSupervisor) spawnID(ctx actor.Context, id string) (*actor.PID, bool) {
	return s.spawn(ctx, persistence.Execution{ID: id}, false)
}

// Messages of connectionsSupervisor about spawning.
type (
	spawnConnection struct {
		props *actor.Props
		name  string
	}
	spawnConnectionResult struct {
		pid *actor.PID
		err error
	}
)
