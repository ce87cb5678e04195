package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// The scheduler fires the stored schedules. It is one goroutine, owned by
// the System: started by Recover (after the unfinished executions are
// resumed) and stopped by Shutdown. It keeps no state of its own beyond a
// timer: on every wake it reads the schedules from the store, fires those
// due, and sleeps until the earliest next_run_at (no polling). Service
// calls that change a schedule wake it.
//
// A firing never runs twice. Its execution is started with the idempotency
// key "schedule:<id>:<unix seconds of the due time>", and next_run_at is
// stored only after the start is durable. A kill in between leaves the old
// next_run_at: at the next start the scheduler finds the execution under
// that key, counts the firing as done and moves on.
//
// Missed firings: a firing whose due time is before the scheduler started
// fell in a downtime. catch_up skip drops it; run_once runs one execution
// (for the earliest missed time) for all the missed firings of a schedule.
// A firing due while the scheduler runs is never "missed", however late
// (under load) it is handled; firings skipped over by a late one are not
// run either: the next firing is the first spec time after now.
//
// mu serialises firings with the service's changes (create, pause, resume,
// delete, trigger): once schedule.delete or schedule.pause has answered,
// the schedule starts nothing more.
//
// Cluster mode: every node runs a scheduler on the one shared schedule
// store. Several may fire the same due time; its execution is started once
// (the idempotency key holds cluster-wide) and the schedule is advanced
// once: advance stores only if next_run_at is still the due time it
// fired (a compare-and-set in the store), so firings, skips and misses
// are counted by one node. Every node rather than one lease holder: a
// node that stops leaves the others firing with no hand-over gap (a lease
// expires seconds later, and a scheduler started late would count the
// firings due meanwhile as missed), at the cost of each node reading the
// schedules when it wakes. A store that can watch (scheduleWatcher) wakes
// every node's scheduler when any node changes a schedule.

// errFiredElsewhere is advance's refusal to store a firing whose due time
// was advanced meanwhile (another node's scheduler, or a service change on
// another node).
var errFiredElsewhere = errors.New("the schedule was advanced meanwhile")

// scheduleWatcher is a store that reports changes of the schedules made
// anywhere (jsstore in cluster mode), so that a scheduler need not poll.
type scheduleWatcher interface {
	WatchSchedules(ctx context.Context, changed func()) error
}

// clusterMissedGrace: in cluster mode a firing is missed (catch_up) only
// if it was due this long before this node's scheduler started. A
// running cluster fires within moments of a due time, so a later one is
// late, not missed: the node that just joined must not skip it for the
// others.
const clusterMissedGrace = 10 * time.Second

// retryFiring is how soon a firing that failed for a passing reason
// (store error, server draining) is tried again.
const retryFiring = time.Second

// schedulerHook is the System's handle on its scheduler; the zero value is
// ready. The scheduler is created on first use (a service call or Recover)
// and runs from Recover until Shutdown.
type schedulerHook struct {
	mu sync.Mutex
	sc *scheduler
}

func (h *schedulerHook) get(sys *System) *scheduler {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sc == nil {
		h.sc = newScheduler(sys)
	}
	return h.sc
}

// start runs the scheduler (once).
func (h *schedulerHook) start(sys *System) { h.get(sys).start() }

// stop stops the scheduler and waits for it; a firing in progress ends
// first.
func (h *schedulerHook) stop() {
	h.mu.Lock()
	sc := h.sc
	h.mu.Unlock()
	if sc != nil {
		sc.stop()
	}
}

type scheduler struct {
	sys *System
	svc *Service
	log zerolog.Logger

	mu sync.Mutex // held by a firing, a trigger, and a service change

	wake chan struct{} // capacity 1: a change happened

	life      sync.Mutex // guards running, stopped, startedAt
	running   bool
	stopped   bool
	startedAt time.Time // firings due before this were missed

	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc
	done   chan struct{}  // closed when run returns
	watch  sync.WaitGroup // the store watch, if the store has one
}

func newScheduler(sys *System) *scheduler {
	ctx, cancel := context.WithCancel(context.Background())
	return &scheduler{
		sys:  sys,
		svc:  serviceOf(sys),
		log:  sys.log.With().Str("component", "scheduler").Logger(),
		wake: make(chan struct{}, 1),
		ctx:  ctx, cancel: cancel,
		done: make(chan struct{}),
	}
}

// serviceOf returns the System's service (NewService registers it as the
// workflows' messenger), so that scheduled starts go through the very same
// Start as a client's.
func serviceOf(sys *System) *Service {
	if svc, ok := sys.env.Messenger.(*Service); ok {
		return svc
	}
	return &Service{sys: sys}
}

func (sc *scheduler) start() {
	sc.life.Lock()
	defer sc.life.Unlock()
	if sc.running || sc.stopped {
		return
	}
	sc.running = true
	sc.startedAt = time.Now()
	if sc.sys.own != nil {
		sc.startedAt = sc.startedAt.Add(-clusterMissedGrace)
	}
	if w, ok := sc.sys.store.(scheduleWatcher); ok {
		sc.watch.Go(func() { sc.watchStore(w) })
	}
	go sc.run()
}

// watchStore pokes the scheduler on every change of the schedules made
// anywhere, until stop; a watch that ends is started again.
func (sc *scheduler) watchStore(w scheduleWatcher) {
	for {
		err := w.WatchSchedules(sc.ctx, sc.poke)
		if sc.ctx.Err() != nil {
			return
		}
		sc.log.Warn().Err(err).Msg("watch schedules; watching again")
		sc.poke() // changes may have been missed meanwhile
		select {
		case <-sc.ctx.Done():
			return
		case <-time.After(retryFiring):
		}
	}
}

func (sc *scheduler) stop() {
	sc.life.Lock()
	running := sc.running
	sc.stopped = true
	sc.life.Unlock()
	sc.cancel()
	if running {
		<-sc.done
	}
	sc.watch.Wait()
}

func (sc *scheduler) started() time.Time {
	sc.life.Lock()
	defer sc.life.Unlock()
	return sc.startedAt
}

// poke wakes the scheduler to re-read the schedules.
func (sc *scheduler) poke() {
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

// change runs a service change of the schedules between firings, then
// wakes the scheduler.
func (sc *scheduler) change(f func() error) error {
	sc.mu.Lock()
	err := f()
	sc.mu.Unlock()
	if err == nil {
		sc.poke()
	}
	return err
}

func (sc *scheduler) run() {
	defer close(sc.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if next, ok := sc.tick(); ok {
			// Go 1.23 timers: Reset after Stop never delivers a stale tick.
			timer.Reset(max(time.Until(next), 0))
		} else {
			timer.Stop()
		}
		select {
		case <-sc.ctx.Done():
			return
		case <-sc.wake:
		case <-timer.C:
		}
	}
}

// tick fires every schedule that is due and returns the earliest time the
// scheduler must wake again (ok false: nothing is scheduled).
func (sc *scheduler) tick() (next time.Time, ok bool) {
	list, err := sc.sys.store.Schedules(sc.ctx, "")
	if err != nil {
		if sc.ctx.Err() == nil {
			sc.log.Error().Err(err).Msg("read schedules")
		}
		return time.Now().Add(retryFiring), true
	}
	paused := 0
	for _, s := range list {
		if s.Paused {
			paused++
		}
	}
	sc.sys.metrics.Schedules.WithLabelValues("active").Set(float64(len(list) - paused))
	sc.sys.metrics.Schedules.WithLabelValues("paused").Set(float64(paused))
	for _, s := range list {
		if sc.ctx.Err() != nil {
			return time.Time{}, false
		}
		if s.Paused || s.NextRunAt.IsZero() {
			continue
		}
		at := s.NextRunAt
		if !at.After(time.Now()) {
			var due bool
			if at, due = sc.fire(s.Workspace, s.ID); !due {
				continue
			}
		}
		if !ok || at.Before(next) {
			next, ok = at, true
		}
	}
	return next, ok
}

// systemIdentity is who a schedule starts and cancels executions as.
func systemIdentity(s persistence.Schedule) weft.Identity {
	return weft.Identity{
		Name:      "schedule:" + s.ID,
		Workspace: s.Workspace,
		Scopes:    []weft.Scope{weft.ScopeWorkflowsStart, weft.ScopeExecutionsWrite},
	}
}

func firingKey(id string, at time.Time) string {
	return fmt.Sprintf("schedule:%s:%d", id, at.Unix())
}

func firingMetadata(s persistence.Schedule, at time.Time, extra map[string]any) json.RawMessage {
	m := map[string]any{"schedule_id": s.ID, "scheduled_for": at.UTC().Format(time.RFC3339Nano)}
	for k, v := range extra {
		m[k] = v
	}
	raw, _ := json.Marshal(m)
	return raw
}

// fire handles the due firing of one schedule and returns when the
// schedule is next due (due false: never, e.g. it was paused or deleted
// meanwhile).
func (sc *scheduler) fire(ws, id string) (next time.Time, due bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	ctx := WithOrigin(sc.ctx, Origin{Transport: TransportSchedule}) // audit.go
	s, err := sc.sys.store.Schedule(ctx, ws, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return time.Time{}, false
	}
	if err != nil {
		if ctx.Err() == nil {
			sc.log.Error().Err(err).Str("schedule_id", id).Msg("read schedule")
		}
		return time.Now().Add(retryFiring), true
	}
	if s.Paused || s.NextRunAt.IsZero() {
		return time.Time{}, false
	}
	now := time.Now()
	if s.NextRunAt.After(now) {
		return s.NextRunAt, true
	}
	spec, err := parseScheduleSpec(s.Cron, s.TZ, s.Every, s.CreatedAt)
	if err != nil { // cannot happen for a record create accepted; pause it
		sc.log.Error().Err(err).Str("schedule_id", id).Msg("stored schedule has a bad spec; pausing it")
		_, _ = sc.sys.store.UpdateSchedule(ctx, ws, id, func(r *persistence.Schedule) error {
			r.Paused, r.NextRunAt, r.LastError = true, time.Time{}, err.Error()
			return nil
		})
		return time.Time{}, false
	}

	// A firing whose execution is stored already was started before a
	// crash, and its next_run_at was not stored: it is done.
	at := s.NextRunAt
	var startedBefore []string
	for !at.After(now) && !at.IsZero() {
		execID, found, err := sc.sys.store.ExecutionByIdempotencyKey(ctx, ws, s.Workflow, firingKey(id, at))
		if err != nil {
			return time.Now().Add(retryFiring), true
		}
		if !found {
			break
		}
		startedBefore = append(startedBefore, execID)
		at = spec.after(at)
	}
	upd := func(r *persistence.Schedule) {
		if n := len(startedBefore); n > 0 {
			r.LastExecutionID = startedBefore[n-1]
			r.LastRunAt = s.NextRunAt
			r.Firings += int64(n)
		}
	}
	if at.IsZero() || at.After(now) {
		return sc.advance(s, at, upd)
	}
	if len(startedBefore) > 0 {
		s.LastExecutionID = startedBefore[len(startedBefore)-1]
	}

	if at.Before(sc.started()) && s.CatchUp != CatchUpRunOnce {
		missed := int64(0)
		for t := at; !t.IsZero() && t.Before(sc.started()) && missed < 10000; t = spec.after(t) {
			missed++
		}
		sc.log.Info().Str("schedule_id", id).Time("due", at).Int64("missed", missed).Msg("firings missed during downtime; catch_up skip")
		return sc.advance(s, spec.after(now), func(r *persistence.Schedule) { upd(r); r.Missed += missed })
	}

	// Overlap: is the schedule's previous execution still going?
	if s.LastExecutionID != "" && s.Overlap != OverlapAllow {
		prev, err := sc.sys.store.Execution(ctx, s.LastExecutionID)
		if err == nil && !prev.Status.Terminal() {
			if s.Overlap == OverlapSkip {
				return sc.advance(s, spec.after(now), func(r *persistence.Schedule) {
					upd(r)
					r.LastRunAt, r.Skipped = at, r.Skipped+1
				})
			}
			reason := fmt.Sprintf("cancelled by schedule %s (overlap cancel_previous)", id)
			if _, err := sc.svc.Cancel(ctx, systemIdentity(s), prev.ID, reason); err != nil {
				sc.log.Warn().Err(err).Str("schedule_id", id).Str("execution_id", prev.ID).Msg("cancel previous execution")
			}
		}
	}

	res, err := sc.svc.Start(ctx, systemIdentity(s), StartRequest{
		Name:           s.Workflow,
		Parameters:     s.Parameters,
		Metadata:       firingMetadata(s, at, nil),
		IdempotencyKey: firingKey(id, at),
	})
	if err != nil {
		switch weft.ErrorCode(err) {
		case weft.CodeUnavailable, weft.CodeInternal:
			// Passing (draining, store busy or closing): the same firing
			// is tried again, under the same key.
			if ctx.Err() == nil {
				sc.log.Warn().Err(err).Str("schedule_id", id).Msg("start scheduled execution; retrying")
			}
			return time.Now().Add(retryFiring), true
		}
		// The workflow is gone or its parameters no longer fit: this
		// firing cannot run. Record why and wait for the next.
		sc.log.Error().Err(err).Str("schedule_id", id).Msg("start scheduled execution")
		msg := weft.AsError(err).Message
		return sc.advance(s, spec.after(now), func(r *persistence.Schedule) { upd(r); r.LastRunAt, r.LastError = at, msg })
	}
	return sc.advance(s, spec.after(now), func(r *persistence.Schedule) {
		upd(r)
		r.LastRunAt, r.LastExecutionID, r.LastError = at, res.ExecutionID, ""
		r.Firings++
	})
}

// advance stores the schedule's next firing with the changes of the one
// just handled, s being the schedule as read before: only if its
// next_run_at is still the one handled, so that of several nodes handling
// one due time one counts it.
func (sc *scheduler) advance(s persistence.Schedule, next time.Time, f func(*persistence.Schedule)) (time.Time, bool) {
	_, err := sc.sys.store.UpdateSchedule(sc.ctx, s.Workspace, s.ID, func(r *persistence.Schedule) error {
		if !r.NextRunAt.Equal(s.NextRunAt) {
			return errFiredElsewhere
		}
		f(r)
		r.NextRunAt, r.UpdatedAt = next, time.Now().UTC()
		return nil
	})
	switch {
	case errors.Is(err, errFiredElsewhere):
		return sc.storedNext(s)
	case errors.Is(err, persistence.ErrNotFound):
		return time.Time{}, false
	case err != nil:
		// The firing's execution is stored under its key: retrying finds it
		// and only stores the advance.
		if sc.ctx.Err() == nil {
			sc.log.Error().Err(err).Str("schedule_id", s.ID).Msg("store next firing")
		}
		return time.Now().Add(retryFiring), true
	}
	return next, !next.IsZero()
}

// storedNext returns when s is due as stored now.
func (sc *scheduler) storedNext(s persistence.Schedule) (time.Time, bool) {
	cur, err := sc.sys.store.Schedule(sc.ctx, s.Workspace, s.ID)
	switch {
	case errors.Is(err, persistence.ErrNotFound):
		return time.Time{}, false
	case err != nil:
		return time.Now().Add(retryFiring), true
	case cur.Paused || cur.NextRunAt.IsZero():
		return time.Time{}, false
	}
	return cur.NextRunAt, true
}

// trigger starts one execution of a schedule now (schedule.trigger).
func (sc *scheduler) trigger(ctx context.Context, who weft.Identity, id string) (StartResult, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	s, err := sc.sys.store.Schedule(ctx, who.Workspace, id)
	if err != nil {
		return StartResult{}, err
	}
	res, err := sc.svc.Start(WithOrigin(ctx, Origin{Transport: TransportSchedule}), systemIdentity(s), StartRequest{
		Name:       s.Workflow,
		Parameters: s.Parameters,
		Metadata:   firingMetadata(s, time.Now(), map[string]any{"triggered_by": who.Name}),
	})
	if err != nil {
		return StartResult{}, err
	}
	_, err = sc.sys.store.UpdateSchedule(ctx, s.Workspace, s.ID, func(r *persistence.Schedule) error {
		r.LastExecutionID, r.Firings, r.UpdatedAt = res.ExecutionID, r.Firings+1, time.Now().UTC()
		return nil
	})
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		// The execution runs; only the schedule's bookkeeping is behind.
		sc.log.Warn().Err(err).Str("schedule_id", id).Msg("record triggered execution")
	}
	sc.poke()
	return res, nil
}
