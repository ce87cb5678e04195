package actors

import (
	"context"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/weft-run/weft/persistence"
)

// In cluster mode an unfinished execution runs because the node holding
// its partition resumed it when it took the partition (cluster_takeover.go)
// or started it. If that ever missed one (a listing that came back short,
// an import whose owner was not told), nothing would run it until the
// partition changed hands again, which need never happen. So each node
// also checks, every ClusterConfig.OrphanCheck, that every unfinished
// execution of its partitions is accounted for: running, passivated,
// queued for admission or waiting to retry a stalled write. One that is
// none of these is started, and logged as a warning, since it means
// something else went wrong.

// DefaultOrphanCheck is how often a node looks for unfinished executions
// of its partitions that nothing runs.
const DefaultOrphanCheck = time.Minute

// orphanMinAge spares executions created this recently: their start may
// be on its way to the supervisor.
const orphanMinAge = 10 * time.Second

// orphanCheck runs the check from Recover to Shutdown (cluster mode).
type orphanCheck struct {
	every time.Duration
	bg    background
}

func newOrphanCheck(cfg *ClusterConfig) *orphanCheck {
	every := DefaultOrphanCheck
	if cfg != nil && cfg.OrphanCheck != 0 {
		every = cfg.OrphanCheck
	}
	return &orphanCheck{every: every}
}

// start runs the check (once; never after stop; never on a single node,
// where Recover resumed everything and nothing changes hands).
func (o *orphanCheck) start(sys *System) {
	if sys.own != nil && o.every >= 0 {
		o.bg.start(func(ctx context.Context) { o.run(ctx, sys) })
	}
}

// stop ends the check and waits for it.
func (o *orphanCheck) stop() { o.bg.stop() }

func (o *orphanCheck) run(ctx context.Context, sys *System) {
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n, err := sys.startOrphans(ctx); err != nil && ctx.Err() == nil {
			sys.log.Warn().Err(err).Msg("check the partitions' unfinished executions")
		} else if n > 0 {
			sys.log.Warn().Int("executions", n).Msg("unfinished executions of this node's partitions were not running: started them")
		}
	}
}

// startOrphans lists the unfinished executions of the partitions held,
// and has the supervisor start those it does not account for. It returns
// how many it started.
func (s *System) startOrphans(ctx context.Context) (int, error) {
	if !s.own.any() {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, takeoverTimeout)
	defer cancel()
	execs, _, err := s.unfinishedWhere(ctx, s.owns)
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-orphanMinAge)
	execs = slices.DeleteFunc(execs, func(e persistence.Execution) bool {
		// A workflow this binary lacks has no actor on purpose: it waits
		// for a deploy that has it (as after a restart).
		_, registered := s.registry.Lookup(e.Workflow)
		return e.CreatedAt.After(cutoff) || !registered
	})
	if len(execs) == 0 {
		return 0, nil
	}
	reply := make(chan []persistence.Execution, 1)
	s.actors.Root.Send(s.executions, &startOrphans{execs: execs, reply: reply})
	select {
	case started := <-reply:
		s.unfinished.add(started)
		s.metrics.OrphansStarted.Add(float64(len(started)))
		for _, e := range started {
			s.log.Warn().Str("execution_id", e.ID).Str("status", string(e.Status)).Msg("unfinished execution had no actor here; running it")
		}
		return len(started), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// startOrphans asks the executions supervisor to start those of execs it
// does not account for; reply gets them.
type startOrphans struct {
	execs []persistence.Execution
	reply chan<- []persistence.Execution
}

// orphans handles startOrphans.
func (s *executionsSupervisor) orphans(ctx actor.Context, msg *startOrphans) {
	var started []persistence.Execution
	for _, e := range msg.execs {
		if s.accountsFor(e.ID) || !s.sys.owns(e.ID) || s.stopping {
			continue
		}
		s.startStored(ctx, e, false)
		started = append(started, e)
	}
	msg.reply <- started
}

// accountsFor reports whether execution id is running, passivated,
// queued for admission or waiting to retry a stalled write here.
func (s *executionsSupervisor) accountsFor(id string) bool {
	if _, ok := s.live[id]; ok {
		return true
	}
	if _, ok := s.pass.passive[id]; ok {
		return true
	}
	if _, ok := s.stalls.timers[id]; ok {
		return true
	}
	return slices.ContainsFunc(s.admit.queue, func(q *queued) bool { return q.id == id })
}
