package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/weft-run/weft/persistence"
)

// executionStrategy restarts a failing execution actor a few times; a
// restarted actor reloads its record and runs the workflow from the top,
// which the store's memoization makes safe. More than that and the actor is
// stopped: its execution stays unfinished, to be recovered at next start.
func executionStrategy() actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(3, 10*time.Second, func(any) actor.Directive {
		return actor.RestartDirective
	})
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
	// executionStopped tells the supervisor a child ended.
	executionStopped struct{ id string }
	// routeExecution forwards msg to a live execution's actor; reply gets
	// false when none is live.
	routeExecution struct {
		id    string
		msg   any
		found chan<- bool
	}
)

// executionsSupervisor is the parent of every execution actor and the one
// map of which executions are live.
type executionsSupervisor struct {
	sys  *System
	live map[string]*actor.PID
}

func newExecutionsSupervisor(sys *System) *executionsSupervisor {
	return &executionsSupervisor{sys: sys, live: make(map[string]*actor.PID)}
}

func (s *executionsSupervisor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *startExecution:
		if _, ok := s.live[msg.exec.ID]; ok {
			return
		}
		props := actor.PropsFromProducer(func() actor.Actor { return newExecutionActor(s.sys, msg.exec, msg.fresh) })
		pid, err := ctx.SpawnNamed(props, msg.exec.ID)
		if err != nil {
			s.sys.log.Error().Err(err).Str("execution_id", msg.exec.ID).Msg("spawn execution actor")
			return
		}
		ctx.Watch(pid)
		s.live[msg.exec.ID] = pid
	case *actor.Terminated:
		for id, pid := range s.live {
			if pid.Equal(msg.Who) {
				delete(s.live, id)
			}
		}
	case *routeExecution:
		pid, ok := s.live[msg.id]
		if ok {
			ctx.Send(pid, msg.msg)
		}
		if msg.found != nil {
			msg.found <- ok
		}
	}
}

// Messages of connectionsSupervisor.
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

// connectionsSupervisor is the parent of every connection actor.
type connectionsSupervisor struct{}

func (s *connectionsSupervisor) Receive(ctx actor.Context) {
	if msg, ok := ctx.Message().(*spawnConnection); ok {
		pid, err := ctx.SpawnNamed(msg.props, msg.name)
		ctx.Respond(&spawnConnectionResult{pid: pid, err: err})
	}
}
