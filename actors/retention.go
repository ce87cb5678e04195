package actors

import (
	"context"
	"time"
)

// Retention: the sweeper removes executions that ended longer ago than
// their workflow's retention (workflows.Retention, else Config.Retention).
// It is one goroutine owned by the System, like the scheduler: started by
// Recover, stopped by Shutdown, and not started at all when neither the
// server nor any workflow sets a retention.
//
// A sweep runs at start and then every RetentionInterval (default: a
// minute, or half the shortest retention if that is less). It removes the
// expired executions RetentionBatch at a time, each batch one commit
// through the store's writer (persistence.Store.DeleteExpired), and waits
// between batches as long as the last one took: a sweep with a backlog
// holds the writer at most about half the time, and appends queued behind
// a batch wait for one batch, never for the whole sweep.

// Defaults of Config.RetentionInterval and Config.RetentionBatch.
const (
	DefaultRetentionInterval = time.Minute
	DefaultRetentionBatch    = 256
)

// minSweepPause is the least a sweep waits between two batches.
const minSweepPause = time.Millisecond

type sweeper struct {
	retention time.Duration
	interval  time.Duration
	batch     int

	bg background
}

func newSweeper(cfg Config) *sweeper {
	w := &sweeper{retention: cfg.Retention, interval: cfg.RetentionInterval, batch: cfg.RetentionBatch}
	if w.batch <= 0 {
		w.batch = DefaultRetentionBatch
	}
	return w
}

// shortest is the shortest retention of the server and its workflows (0:
// none set).
func (w *sweeper) shortest(sys *System) time.Duration {
	least := w.retention
	for _, def := range sys.registry.Definitions() {
		if d, _ := def.Retention(); d > 0 && (least <= 0 || d < least) {
			least = d
		}
	}
	return max(least, 0)
}

// every is the time between sweeps: RetentionInterval if set, else a
// minute, or half the shortest retention when that is shorter (so an
// execution outlives its retention by at most half of it), but not under
// minSweepInterval.
func (w *sweeper) every(sys *System) time.Duration {
	if w.interval > 0 {
		return w.interval
	}
	return max(min(DefaultRetentionInterval, w.shortest(sys)/2), minSweepInterval)
}

// minSweepInterval bounds how often a sweep runs when retention is tiny.
const minSweepInterval = 10 * time.Millisecond

// retentionOf is how long ended executions of workflow are kept (<= 0:
// for ever). A workflow no longer registered takes the server's default.
func (sys *System) retentionOf(workflow string) time.Duration {
	if def, ok := sys.registry.Lookup(workflow); ok {
		if d, set := def.Retention(); set {
			return d
		}
	}
	return sys.sweep.retention
}

// enabled reports whether any workflow's executions are ever removed.
func (w *sweeper) enabled(sys *System) bool { return w.shortest(sys) > 0 }

// start runs the sweeper (once; never after stop).
func (w *sweeper) start(sys *System) {
	// The series exist from the start, at 0, for dashboards and alerts.
	sys.metrics.ExecutionsDeleted.WithLabelValues(deletedByRetention)
	sys.metrics.ExecutionsDeleted.WithLabelValues(deletedByAPI)
	if w.enabled(sys) {
		w.bg.start(func(ctx context.Context) { w.run(ctx, sys) })
	}
}

// stop ends the sweeper and waits for it: a batch in progress commits first.
func (w *sweeper) stop() { w.bg.stop() }

func (w *sweeper) run(ctx context.Context, sys *System) {
	log := sys.log.With().Str("component", "retention").Logger()
	tick := time.NewTicker(w.every(sys))
	defer tick.Stop()
	for {
		start := time.Now()
		n, err := w.sweep(ctx, sys, start)
		if a, aerr := w.sweepAudit(ctx, sys, start); aerr != nil && err == nil { // audit.go: records older than Retention
			err = aerr
		} else if a > 0 {
			log.Debug().Int("audit_records", a).Msg("removed expired audit records")
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn().Err(err).Int("deleted", n).Msg("retention sweep failed; next one retries")
		case n > 0:
			log.Info().Int("deleted", n).Dur("took", time.Since(start)).Msg("removed expired executions")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweep removes everything expired at now, a batch at a time.
func (w *sweeper) sweep(ctx context.Context, sys *System, now time.Time) (int, error) {
	total := 0
	for {
		began := time.Now()
		n, more, err := sys.store.DeleteExpired(ctx, now, sys.retentionOf, w.batch)
		total += n
		if n > 0 {
			sys.metrics.ExecutionsDeleted.WithLabelValues(deletedByRetention).Add(float64(n))
		}
		if err != nil || !more {
			return total, err
		}
		// Let the writes queued meanwhile through before the next batch.
		pause := max(time.Since(began), minSweepPause)
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// Reasons of weft_executions_deleted_total.
const (
	deletedByRetention = "retention"
	deletedByAPI       = "api"
)
