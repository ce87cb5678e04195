package persistence

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Workflow statistics: how many executions of a workflow ended in the last
// hour, day or week, how, and how long they took. They are read from a
// rollup, not from the executions, so a query costs the same with ten
// executions as with ten million:
//
//	stats        lp(workspace) lp(workflow) tier asc(bucket start) -> rollup (stats_rollup.go)
//
// tier is 'm' (the minute's executions) or 'h' (the hour's); bucket start
// is Unix seconds with the sign bit flipped, big-endian, in UTC. Each end
// is counted in its minute and in its hour, in the transaction that writes
// the terminal status (applyStatus, or putIndexes for a record created or
// imported already ended). A query takes whole hours from the hour tier and
// the ragged edges from the minute tier: at most 2×59 minute values and
// one per whole hour (a week: 167).
//
// The rollup is a record of what ended, not a view of what is stored:
// deleting an execution (execution.delete, retention) leaves its count in
// place. It keeps statsKeep: when an end opens a new minute (or hour) of a
// workflow, that workflow's values of the tier older than statsKeep before
// that end are removed in the same transaction, so the bucket never grows
// past about statsKeep of minutes and hours per workflow.
//
// A store written before the rollup existed has no stats bucket. Open then
// creates it and, in the same transaction, counts every execution that
// ended within statsKeep (a one-off scan of the records; the ended index is
// not enough: it has no workspace and may not exist).

var bktStats = []byte("stats") // lp(ws) lp(workflow) tier asc(start) -> rollup

// Tiers of the stats bucket.
const (
	tierMinute byte = 'm'
	tierHour   byte = 'h'
)

// statsKeep is how long rollup values are kept: a week, the longest
// period, and a day of slack.
const statsKeep = 8 * 24 * time.Hour

// Period is the window of a stats query, ending now.
type Period string

// The periods of workflow.stats.
const (
	PeriodHour Period = "hour"
	PeriodDay  Period = "day"
	PeriodWeek Period = "week"
)

// ParsePeriod reads a period name; "" is PeriodDay. Anything else is
// ErrInvalid.
func ParsePeriod(s string) (Period, error) {
	switch p := Period(s); p {
	case "":
		return PeriodDay, nil
	case PeriodHour, PeriodDay, PeriodWeek:
		return p, nil
	}
	return "", fmt.Errorf("%w: period %q: want hour, day or week", ErrInvalid, s)
}

// Duration is the length of the period.
func (p Period) Duration() time.Duration {
	switch p {
	case PeriodHour:
		return time.Hour
	case PeriodWeek:
		return 7 * 24 * time.Hour
	}
	return 24 * time.Hour
}

// Health values of a workflow's stats.
const (
	HealthOK      = "ok"
	HealthWarning = "warning"
	HealthError   = "error"
)

// HealthOf is the protocol's health rule: error if more than 5 failures a
// day or under 80% success, warning if any failure or under 95% success,
// else ok.
func HealthOf(errorsPerDay, successRate float64) string {
	switch {
	case errorsPerDay > 5 || successRate < 0.8:
		return HealthError
	case errorsPerDay > 0 || successRate < 0.95:
		return HealthWarning
	}
	return HealthOK
}

// WorkflowStats answers workflow.stats: the executions of one workflow of
// one workspace that ended from From to To (both inclusive, at minute
// resolution).
type WorkflowStats struct {
	Workflow  string `json:"workflow"`
	Period    Period `json:"period"`
	Runs      uint64 `json:"runs"`
	Completed uint64 `json:"completed"`
	Failed    uint64 `json:"failed"`
	Cancelled uint64 `json:"cancelled"`
	// SuccessRate is Completed/Runs; 1 with no runs (nothing failed).
	SuccessRate float64 `json:"success_rate"`
	// AvgDurationMS is exact; P95DurationMS is within 5% (see rollup).
	// Both are 0 with no runs.
	AvgDurationMS float64 `json:"avg_duration_ms"`
	P95DurationMS float64 `json:"p95_duration_ms"`
	// ErrorsPerDay is Failed scaled to a day: ×24 for an hour, ÷7 for a
	// week.
	ErrorsPerDay float64   `json:"errors_per_day"`
	Health       string    `json:"health"`
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	// Known reports that the workspace has had executions of the workflow
	// end within statsKeep (inside the period or not).
	Known bool `json:"-"`
}

// WorkflowStats reads the stats of workflow in workspace for period, ending
// at now. The window is the minute of now and the minutes before it, a
// period's worth in all.
func (s *Store) WorkflowStats(ctx context.Context, workspace, workflow string, period Period, now time.Time) (WorkflowStats, error) {
	if workspace == "" || workflow == "" {
		return WorkflowStats{}, fmt.Errorf("%w: stats need a workspace and a workflow", ErrInvalid)
	}
	to := now.UTC()
	from := to.Truncate(time.Minute).Add(time.Minute - period.Duration())
	sum := new(statsSum)
	var known bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		*sum, known = statsSum{}, false
		b := tx.Bucket(bktStats)
		if b == nil {
			return nil
		}
		prefix := statsPrefix(workspace, workflow)
		if k, _ := b.Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			known = true
		}
		return sumWindow(b, prefix, from, to, sum)
	})
	if err != nil {
		return WorkflowStats{}, err
	}
	st := summarize(sum, period)
	st.Workflow, st.From, st.To, st.Known = workflow, from, to, known
	return st, nil
}

// sumWindow adds up the rollups of prefix from from to to: whole hours
// from the hour tier, the rest from the minute tier.
func sumWindow(b *bolt.Bucket, prefix []byte, from, to time.Time, into *statsSum) error {
	end := to.Truncate(time.Minute).Add(time.Minute) // exclusive
	hours, hoursEnd := from.Truncate(time.Hour), end.Truncate(time.Hour)
	if hours.Before(from) {
		hours = hours.Add(time.Hour)
	}
	if !hours.Before(hoursEnd) {
		return sumRange(b, prefix, tierMinute, from, end, into)
	}
	if err := sumRange(b, prefix, tierMinute, from, hours, into); err != nil {
		return err
	}
	if err := sumRange(b, prefix, tierHour, hours, hoursEnd, into); err != nil {
		return err
	}
	return sumRange(b, prefix, tierMinute, hoursEnd, end, into)
}

// sumRange adds the rollups of one tier whose start is in [lo, hi).
func sumRange(b *bolt.Bucket, prefix []byte, tier byte, lo, hi time.Time, into *statsSum) error {
	stop := statsKey(prefix, tier, hi)
	c := b.Cursor()
	for k, v := c.Seek(statsKey(prefix, tier, lo)); k != nil && bytes.Compare(k, stop) < 0; k, v = c.Next() {
		if err := into.addEncoded(v); err != nil {
			return fmt.Errorf("persistence: stats key %x: %w", k, err)
		}
	}
	return nil
}

// summarize turns a rollup into the figures of workflow.stats.
func summarize(r *statsSum, period Period) WorkflowStats {
	st := WorkflowStats{
		Period: period, Runs: r.runs(),
		Completed: r.completed, Failed: r.failed, Cancelled: r.cancelled,
		SuccessRate:  1,
		ErrorsPerDay: float64(r.failed) * float64(24*time.Hour) / float64(period.Duration()),
	}
	if st.Runs > 0 {
		st.SuccessRate = float64(r.completed) / float64(st.Runs)
		st.AvgDurationMS = microsToMillis(float64(r.sumMicros) / float64(st.Runs))
		st.P95DurationMS = microsToMillis(r.quantile(0.95))
	}
	st.Health = HealthOf(st.ErrorsPerDay, st.SuccessRate)
	return st
}

// microsToMillis converts and rounds to the microsecond.
func microsToMillis(us float64) float64 { return math.Round(us) / 1000 }

func statsPrefix(workspace, workflow string) []byte {
	return appendLP(appendLP(nil, workspace), workflow)
}

func statsKey(prefix []byte, tier byte, start time.Time) []byte {
	k := append(append(make([]byte, 0, len(prefix)+9), prefix...), tier)
	return binary.BigEndian.AppendUint64(k, uint64(start.Unix())^(1<<63))
}

// rollUpEnded counts e, which has just ended, in its minute and its hour.
// A damaged rollup value is started over rather than failing the write:
// an execution must be able to end whatever the stats hold.
func rollUpEnded(tx *bolt.Tx, e *Execution) error {
	b := tx.Bucket(bktStats)
	if b == nil || !e.Status.Terminal() {
		return nil
	}
	end := e.UpdatedAt.UTC()
	prefix := statsPrefix(e.Workspace, e.Workflow)
	for _, t := range []struct {
		tier byte
		unit time.Duration
	}{{tierMinute, time.Minute}, {tierHour, time.Hour}} {
		k := statsKey(prefix, t.tier, end.Truncate(t.unit))
		var r rollup
		if raw := b.Get(k); raw != nil {
			r, _ = decodeRollup(raw)
		} else if err := pruneStats(b, prefix, t.tier, end.Add(-statsKeep)); err != nil {
			return err
		}
		r.add(e.Status, end.Sub(e.CreatedAt))
		if err := b.Put(k, r.encode()); err != nil {
			return err
		}
	}
	return nil
}

// pruneStats removes the values of one tier of prefix that start before
// cutoff.
func pruneStats(b *bolt.Bucket, prefix []byte, tier byte, cutoff time.Time) error {
	stop := statsKey(prefix, tier, cutoff)
	var old [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(append(bytes.Clone(prefix), tier)); k != nil && bytes.Compare(k, stop) < 0; k, _ = c.Next() {
		old = append(old, bytes.Clone(k))
	}
	// Deleting while a cursor walks makes it skip keys: collect, then delete.
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// openStats creates the stats bucket of a store that has none and counts
// in it the executions that ended after now-statsKeep (Open calls it).
func openStats(tx *bolt.Tx, now time.Time) error {
	if tx.Bucket(bktStats) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bktStats); err != nil {
		return fmt.Errorf("create bucket %s: %w", bktStats, err)
	}
	since := now.Add(-statsKeep)
	return tx.Bucket(bktExecutions).ForEach(func(k, v []byte) error {
		var e Execution
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("backfill stats: decode execution %s: %w", k, err)
		}
		if !e.Status.Terminal() || e.UpdatedAt.Before(since) {
			return nil
		}
		return rollUpEnded(tx, &e)
	})
}
