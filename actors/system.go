package actors

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/metrics"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

// Config wires a System to its dependencies.
type Config struct {
	Store    Store
	Bus      *events.Bus
	Registry *workflows.Registry
	Env      workflows.Env
	Logger   zerolog.Logger
	// Artifacts keeps artifacts (nil: none); workflows reach it through
	// Env.Artifacts, set from it.
	Artifacts ArtifactStore
	Metrics   *metrics.Metrics
	// MaxRestarts is how many times a workflow that panics is restarted
	// within RestartWindow before its execution fails (default 3 in 1 min).
	MaxRestarts   int
	RestartWindow time.Duration
	// RoomPresenceLimit is the largest room whose joins and leaves are
	// pushed to its members as room.joined / room.left (larger rooms send
	// none: see roomActor). 0: DefaultRoomPresenceLimit; negative: no limit.
	RoomPresenceLimit int
	// Retention removes executions that ended longer ago than this (0:
	// keep them; workflows.Retention overrides it per workflow), in
	// batches of RetentionBatch (256) every RetentionInterval (default 1
	// min, or half the shortest retention if less).
	Retention         time.Duration
	RetentionInterval time.Duration
	RetentionBatch    int
	// Quotas bound signals per execution and unfinished executions per
	// workspace.
	Quotas Quotas
	// WarmExecutions is how many suspended executions keep their actor
	// (least recently suspended passivated first; 0: 10,000; negative: no
	// limit), PassivateAfter how long one stays warm at most (0: 30 s;
	// negative: no limit). A passivated execution keeps at most an entry
	// in one wake-time heap: see passivation.go.
	WarmExecutions int
	PassivateAfter time.Duration
	// TracerProvider, if set, traces executions: a span per execution and
	// per step, built from their events (tracing.go). Nil: no tracing, at
	// no cost.
	TracerProvider trace.TracerProvider
	// Peers reach the other nodes of a cluster for rooms and connections
	// (peers.go). Nil: a single node.
	Peers Peers
	// Cluster, in cluster mode, says which executions this node runs
	// (cluster.go). Nil: a single node runs them all.
	Cluster *ClusterConfig
}

// System is the actor system with its supervisors: the root of all live
// state. Create it with NewSystem, then Recover, then serve.
type System struct {
	actors      *actor.ActorSystem
	store       Store
	bus         *events.Bus
	registry    *workflows.Registry
	env         workflows.Env
	artifacts   ArtifactStore // artifacts.go
	log         zerolog.Logger
	metrics     *metrics.Metrics
	executions  *actor.PID
	connections *actor.PID
	rooms       *actor.PID
	peers       Peers // never nil: noPeers on a single node

	drain     chan struct{} // closed by Drain
	drainOnce sync.Once
	running   atomic.Int64 // workflow goroutines alive

	sched schedulerHook // scheduler.go: fires schedules from Recover to Shutdown
	sweep *sweeper      // retention.go: removes expired executions from Recover to Shutdown
	// orphans (cluster mode) starts unfinished executions of this node's
	// partitions that nothing runs, from Recover to Shutdown
	// (cluster_orphans.go).
	orphans *orphanCheck

	quotas     Quotas
	unfinished *unfinishedCount // per workspace, for Quotas.ExecutionsPerWorkspace

	warmExecutions int           // Config.WarmExecutions
	passivateAfter time.Duration // Config.PassivateAfter

	tracer trace.Tracer // nil: tracing off (tracing.go)

	own *ownership // cluster mode: the partitions this node holds (cluster.go); nil: a single node
}

// NewSystem starts the actor system and its supervisors. proto.actor's own
// logs go through zerolog (see protoActorLogger).
func NewSystem(cfg Config) (*System, error) {
	zl := cfg.Logger.With().Str("component", "actors").Logger()
	as := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return protoActorLogger(zl)
	}))
	s := &System{
		actors:    as,
		store:     cfg.Store,
		bus:       cfg.Bus,
		registry:  cfg.Registry,
		env:       cfg.Env,
		artifacts: cfg.Artifacts,
		log:       cfg.Logger,
		metrics:   cmp.Or(cfg.Metrics, metrics.New()),
		drain:     make(chan struct{}),
		sweep:     newSweeper(cfg),
		orphans:   newOrphanCheck(cfg.Cluster),
		quotas:    cfg.Quotas.WithDefaults(),

		warmExecutions: cfg.WarmExecutions,
		passivateAfter: cfg.PassivateAfter,
		peers:          cfg.Peers,
		own:            newOwnership(cfg.Cluster),
	}
	if s.peers == nil {
		s.peers = noPeers{}
	}
	if cfg.TracerProvider != nil {
		s.tracer = cfg.TracerProvider.Tracer(tracerName)
	}
	if cfg.Artifacts != nil && s.env.Artifacts == nil {
		s.env.Artifacts = workflowArtifacts{cfg.Artifacts}
	}
	s.unfinished = newUnfinishedCount(s.quotas.ExecutionsPerWorkspace)
	if s.own != nil {
		s.unfinished.share = s.own.share
	}
	var err error
	s.executions, err = as.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return newExecutionsSupervisor(s)
	}, actor.WithSupervisor(restartThenFail{
		max:    cmp.Or(cfg.MaxRestarts, defaultMaxRestarts),
		window: cmp.Or(cfg.RestartWindow, defaultRestartWindow),
	})), "executions")
	if err != nil {
		return nil, fmt.Errorf("spawn executions supervisor: %w", err)
	}
	s.connections, err = as.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return newConnectionsSupervisor(s.quotas.RoomsPerConnection)
	}, actor.WithSupervisor(connectionStrategy())), "connections")
	if err != nil {
		return nil, fmt.Errorf("spawn connections supervisor: %w", err)
	}
	s.rooms, err = as.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return newRoomsSupervisor(cfg.RoomPresenceLimit, s.peers) }), "rooms")
	if err != nil {
		return nil, fmt.Errorf("spawn rooms supervisor: %w", err)
	}
	return s, nil
}

// protoActorLogger routes proto.actor's slog records into zl. Its
// "[DeadLetter]" records (a message to a stopped actor, e.g. to a closed
// connection's, which is routine) are logged at debug, whatever level
// proto.actor gave them.
func protoActorLogger(zl zerolog.Logger) *slog.Logger {
	return slog.New(deadLetterDebug{zerolog.NewSlogHandler(zl)})
}

// deadLetterDebug lowers records whose message mentions DeadLetter to debug.
type deadLetterDebug struct{ slog.Handler }

func (h deadLetterDebug) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "DeadLetter") && r.Level > slog.LevelDebug {
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h deadLetterDebug) WithAttrs(attrs []slog.Attr) slog.Handler {
	return deadLetterDebug{h.Handler.WithAttrs(attrs)}
}

func (h deadLetterDebug) WithGroup(name string) slog.Handler {
	return deadLetterDebug{h.Handler.WithGroup(name)}
}

// Root returns the root context, for sending to actors from outside.
func (s *System) Root() *actor.RootContext { return s.actors.Root }

// Recover resumes every execution that had not ended when the server last
// stopped. A running one gets its actor, which runs its workflow again from
// the top, recorded steps fast-forwarding. So do the first WarmExecutions
// waiting ones (they re-suspend, then passivate as usual); the other
// waiting ones found in the store's waiting index are passivated at once:
// each costs a wake-heap entry (or just its id, for a signal wait with no
// deadline) until it is due, signalled or cancelled; one due already wakes
// at once. Queued ones go back in the admission queue.
//
// In cluster mode it resumes nothing itself: each partition's executions
// resume when this node acquires it (AcquirePartition).
func (s *System) Recover(ctx context.Context) (int, error) {
	n := 0
	if s.own == nil {
		var err error
		resumed, err := s.recoverWhere(ctx, func(string) bool { return true })
		if err != nil {
			return 0, err
		}
		n = len(resumed)
	}
	s.sched.start(s) // after the resumed executions: see scheduler.go
	s.sweep.start(s)
	s.orphans.start(s)
	return n, nil
}

// recoverWhere resumes the unfinished executions whose id keep accepts
// (see Recover).
func (s *System) recoverWhere(ctx context.Context, keep func(id string) bool) ([]persistence.Execution, error) {
	unfinished, waiting, err := s.unfinishedWhere(ctx, keep)
	if err != nil {
		return nil, err
	}
	// Asked again once the records are read: a partition let go meanwhile
	// is not this node's to count or run any more.
	unfinished = slices.DeleteFunc(unfinished, func(e persistence.Execution) bool { return !keep(e.ID) })
	s.unfinished.add(unfinished)
	s.adopt(ctx, unfinished)
	// Up to WarmExecutions waiting executions are run (and re-suspend):
	// that checks them against the code now registered at once (a
	// non-determinism error shows at start, not when they wake). Past
	// that, they are passivated straight from the waiting index, so that a
	// million sleeping executions do not all replay at start.
	replay := cmp.Or(s.warmExecutions, defaultWarmExecutions)
	// Running and waiting executions first, so that they hold their slots
	// before any queued one is admitted.
	for _, queued := range []bool{false, true} {
		for _, exec := range unfinished {
			if (exec.Status == weft.StatusQueued) != queued {
				continue
			}
			if wakeAt, ok := waiting[exec.ID]; ok && exec.Status == weft.StatusWaiting && replay >= 0 {
				if replay > 0 {
					replay--
					s.actors.Root.Send(s.executions, &startExecution{exec: exec, fresh: false})
					continue
				}
				s.actors.Root.Send(s.executions, s.restStored(exec, wakeAt))
				continue
			}
			s.actors.Root.Send(s.executions, &startExecution{exec: exec, fresh: false})
		}
	}
	return unfinished, nil
}

// unfinishedLister is a store that lists the unfinished executions of
// some ids, with their waiting index, in one read and without loading the
// others (jsstore, where the index is a scan of a bucket and each load is
// two requests to NATS).
type unfinishedLister interface {
	UnfinishedWhere(ctx context.Context, keep func(id string) bool) ([]persistence.Execution, map[string]time.Time, error)
}

// unfinishedWhere lists the unfinished executions keep accepts, and the
// waiting index (when each waiting one's wait ends), through the store's
// filter when it has one.
func (s *System) unfinishedWhere(ctx context.Context, keep func(id string) bool) ([]persistence.Execution, map[string]time.Time, error) {
	if l, ok := s.store.(unfinishedLister); ok {
		execs, waiting, err := l.UnfinishedWhere(ctx, keep)
		if err != nil {
			return nil, nil, fmt.Errorf("list unfinished executions: %w", err)
		}
		return execs, waiting, nil
	}
	all, err := s.store.Unfinished(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list unfinished executions: %w", err)
	}
	waiting, err := s.store.WaitingIndex(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list waiting executions: %w", err)
	}
	return slices.DeleteFunc(all, func(e persistence.Execution) bool { return !keep(e.ID) }), waiting, nil
}

// restStored is the passivateStored message of a waiting execution found
// at start-up: it wakes at wakeAt, or when its workflow's timeout is up if
// that comes first, and keeps its concurrency slot.
func (s *System) restStored(exec persistence.Execution, wakeAt time.Time) *passivateStored {
	msg := &passivateStored{id: exec.ID, wakeAt: wakeAt}
	if def, ok := s.registry.Lookup(exec.Workflow); ok {
		if d := def.Timeout(); d > 0 {
			msg.wakeAt = earliest(msg.wakeAt, exec.CreatedAt.Add(d))
		}
		if !def.Accepts(exec.Version) {
			msg.wakeAt = time.Now() // spawn it: its actor records the mismatch
		}
		if c := def.Concurrency(); c.Limited() {
			msg.slot = &slotKey{exec.Workflow, c.KeyOf(exec.Parameters)}
		}
	} else {
		msg.wakeAt = time.Now() // spawn it: its actor records the error
	}
	return msg
}

// earliest is the earlier of two deadlines, zero meaning none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

func (s *System) runStarted() {
	s.running.Add(1)
	s.metrics.ExecutionsRunning.Inc()
}

func (s *System) runEnded() {
	s.running.Add(-1)
	s.metrics.ExecutionsRunning.Dec()
}

func (s *System) draining() bool {
	select {
	case <-s.drain:
		return true
	default:
		return false
	}
}

// Drain asks every running workflow to stop at its next step boundary (a
// step already running finishes and is checkpointed) and waits until none
// runs, or ctx ends. Executions stay unfinished and resume at next start.
func (s *System) Drain(ctx context.Context) error {
	s.drainOnce.Do(func() { close(s.drain) })
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.running.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("drain: %d workflows still running: %w", s.running.Load(), ctx.Err())
		}
	}
	return nil
}

// Shutdown stops every actor. Running workflow goroutines are cancelled and
// their executions stay unfinished in the store, to resume on next start.
func (s *System) Shutdown(ctx context.Context) error {
	s.sched.stop() // no firing while the actors stop
	s.sweep.stop()
	s.orphans.stop()
	for _, pid := range []*actor.PID{s.connections, s.rooms, s.executions} {
		if err := s.actors.Root.StopFuture(pid).Wait(); err != nil && ctx.Err() != nil {
			return fmt.Errorf("stop %s: %w", pid.Id, err)
		}
	}
	s.actors.Shutdown()
	return nil
}

// SpawnConnection spawns a connection actor under the connections
// supervisor. The WebSocket adapter builds the props.
func (s *System) SpawnConnection(props *actor.Props, name string) (*actor.PID, error) {
	f := s.actors.Root.RequestFuture(s.connections, &spawnConnection{props: props, name: name}, 5*time.Second)
	res, err := f.Result()
	if err != nil {
		return nil, fmt.Errorf("spawn connection: %w", err)
	}
	r := res.(*spawnConnectionResult)
	return r.pid, r.err
}
