package persistence

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/weft-run/weft"
)

// rollup is what the stats bucket holds for one workflow of one workspace
// over one time bucket: how many executions ended in it, by terminal
// status, their total duration, and a histogram of their durations from
// which quantiles are read.
//
// The histogram is a DDSketch-style log-scale sketch: a duration d
// (microseconds) above 1 µs falls in bucket i = ceil(log_γ d), γ =
// (1+α)/(1-α), and a bucket reads back as 2γ^i/(γ+1), which is within α of
// every value the bucket holds. With α = 5% the p95 is within 5% of the
// true p95 (of a value between the 94th and 96th percentile, at worst),
// and a day's or a year's durations need about 300 buckets. Buckets
// merge by adding counts, so a week is the sum of its hours.
type rollup struct {
	rollupCounts
	hist []sketchCount // ascending by bucket, no duplicates
}

type rollupCounts struct {
	completed, failed, cancelled uint64
	sumMicros                    uint64 // total duration, for the mean
}

type sketchCount struct {
	bucket int
	n      uint64
}

// sketchAlpha is the sketch's relative accuracy (see rollup).
const sketchAlpha = 0.05

var (
	sketchGamma    = (1 + sketchAlpha) / (1 - sketchAlpha)
	sketchLogGamma = math.Log(sketchGamma)
)

// maxSketchBucket caps the bucket index: γ^600 µs is far beyond any
// duration (about 10^26 µs), so only nonsense lands on the cap.
const maxSketchBucket = 600

// rollupVersion leads every encoded rollup, so the format can change.
const rollupVersion = 1

var errBadRollup = errors.New("persistence: malformed stats rollup")

// sketchBucket is the bucket of a duration of micros microseconds; 0 holds
// everything up to 1 µs.
func sketchBucket(micros uint64) int {
	if micros <= 1 {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(micros)) / sketchLogGamma))
	return min(max(i, 1), maxSketchBucket)
}

// sketchValue is the value, in microseconds, that bucket i stands for.
func sketchValue(i int) float64 {
	if i <= 0 {
		return 0
	}
	return 2 * math.Pow(sketchGamma, float64(i)) / (sketchGamma + 1)
}

func (c *rollupCounts) runs() uint64 { return c.completed + c.failed + c.cancelled }

// add counts one execution that ended with status st after d.
func (r *rollup) add(st weft.Status, d time.Duration) {
	switch st {
	case weft.StatusCompleted:
		r.completed++
	case weft.StatusFailed:
		r.failed++
	case weft.StatusCancelled:
		r.cancelled++
	default:
		return
	}
	micros := uint64(max(d.Microseconds(), 0))
	r.sumMicros += micros
	b := sketchBucket(micros)
	i, found := slices.BinarySearchFunc(r.hist, b, func(c sketchCount, b int) int { return cmp.Compare(c.bucket, b) })
	if found {
		r.hist[i].n++
		return
	}
	r.hist = slices.Insert(r.hist, i, sketchCount{bucket: b, n: 1})
}

// encode is version, completed, failed, cancelled, sumMicros, the number of
// histogram buckets, then each bucket as (index delta, count), ascending:
// uvarints throughout, so a typical minute is a dozen bytes.
func (r *rollup) encode() []byte {
	b := make([]byte, 0, 16+4*len(r.hist))
	b = append(b, rollupVersion)
	for _, v := range []uint64{r.completed, r.failed, r.cancelled, r.sumMicros, uint64(len(r.hist))} {
		b = binary.AppendUvarint(b, v)
	}
	prev := 0
	for _, c := range r.hist {
		b = binary.AppendUvarint(b, uint64(c.bucket-prev))
		b = binary.AppendUvarint(b, c.n)
		prev = c.bucket
	}
	return b
}

// decodeRollup reads what encode wrote.
func decodeRollup(b []byte) (rollup, error) {
	var r rollup
	c, err := readRollup(b, func(bucket int, n uint64) { r.hist = append(r.hist, sketchCount{bucket, n}) })
	if err != nil {
		return rollup{}, err
	}
	r.rollupCounts = c
	return r, nil
}

// readRollup reads an encoded rollup, calling fn with each histogram
// bucket in order. The store is trusted, but a damaged value must be an
// error, never a panic or a huge allocation.
func readRollup(b []byte, fn func(bucket int, n uint64)) (rollupCounts, error) {
	if len(b) == 0 || b[0] != rollupVersion {
		return rollupCounts{}, fmt.Errorf("%w: version %v", errBadRollup, b[:min(len(b), 1)])
	}
	rd := uvarintReader{b: b[1:]}
	c := rollupCounts{completed: rd.next(), failed: rd.next(), cancelled: rd.next(), sumMicros: rd.next()}
	n := rd.next()
	if rd.err != nil || n > maxSketchBucket+1 {
		return rollupCounts{}, fmt.Errorf("%w: header", errBadRollup)
	}
	i := uint64(0)
	for k := range n {
		delta, count := rd.next(), rd.next()
		if rd.err != nil || (k > 0 && delta == 0) || delta > maxSketchBucket || i+delta > maxSketchBucket {
			return rollupCounts{}, fmt.Errorf("%w: bucket %d", errBadRollup, k)
		}
		i += delta
		fn(int(i), count)
	}
	if len(rd.b) != 0 {
		return rollupCounts{}, fmt.Errorf("%w: %d trailing bytes", errBadRollup, len(rd.b))
	}
	return c, nil
}

// statsSum adds up the rollups of a query's window.
type statsSum struct {
	rollupCounts
	hist [maxSketchBucket + 1]uint64
}

// addEncoded adds an encoded rollup.
func (s *statsSum) addEncoded(b []byte) error {
	c, err := readRollup(b, func(bucket int, n uint64) { s.hist[bucket] += n })
	if err != nil {
		return err
	}
	s.completed += c.completed
	s.failed += c.failed
	s.cancelled += c.cancelled
	s.sumMicros += c.sumMicros
	return nil
}

// quantile is the q-quantile (0 < q <= 1) of the durations, in
// microseconds, by nearest rank: the value of the bucket holding the
// ceil(q*n)-th smallest duration. 0 without durations.
func (s *statsSum) quantile(q float64) float64 {
	var n uint64
	for _, c := range s.hist {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := min(max(uint64(math.Ceil(q*float64(n))), 1), n)
	var seen uint64
	for i, c := range s.hist {
		if seen += c; seen >= rank {
			return sketchValue(i)
		}
	}
	return sketchValue(maxSketchBucket) // unreachable: seen ends at n
}

// uvarintReader reads uvarints until the first error, which it keeps.
type uvarintReader struct {
	b   []byte
	err error
}

func (r *uvarintReader) next() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadRollup
		return 0
	}
	r.b = r.b[n:]
	return v
}

// The rollup for another store (persistence/jsstore keeps the same values
// in a KV bucket): the encoding, the sum of a window and its summary, and
// which values cover a window, exactly as the bbolt store has them.

// StatsKeep is how long rollup values are worth keeping: a week, the
// longest period, and a day of slack.
const StatsKeep = statsKeep

// StatsRollup is one rollup value: the executions of one workflow that
// ended in one minute or one hour.
type StatsRollup struct{ r rollup }

// DecodeStatsRollup reads what Encode wrote; a damaged value is an error
// wrapping errBadRollup, never a panic.
func DecodeStatsRollup(b []byte) (StatsRollup, error) {
	r, err := decodeRollup(b)
	return StatsRollup{r}, err
}

// Add counts one execution that ended with status st after d (a status
// that is not terminal is not counted).
func (r *StatsRollup) Add(st weft.Status, d time.Duration) { r.r.add(st, d) }

// Encode is the value's stored form.
func (r *StatsRollup) Encode() []byte { return r.r.encode() }

// StatsSum adds up the rollup values of a window.
type StatsSum struct{ s statsSum }

// AddEncoded adds an encoded rollup value.
func (s *StatsSum) AddEncoded(b []byte) error { return s.s.addEncoded(b) }

// Stats is the answer of workflow.stats for the values added.
func (s *StatsSum) Stats(workflow string, period Period, from, to time.Time, known bool) WorkflowStats {
	st := summarize(&s.s, period)
	st.Workflow, st.From, st.To, st.Known = workflow, from, to, known
	return st
}

// StatsSlot names one rollup value: an hour's (Hour) or a minute's, by
// its start.
type StatsSlot struct {
	Hour  bool
	Start time.Time
}

// StatsWindow is the window of a query for period at now (from and to, as
// WorkflowStats has them) and the values that cover it: whole hours from
// the hour tier, the ragged edges from the minute tier (a week: at most
// 167 hours and 118 minutes).
func StatsWindow(period Period, now time.Time) (from, to time.Time, slots []StatsSlot) {
	to = now.UTC()
	from = to.Truncate(time.Minute).Add(time.Minute - period.Duration())
	end := to.Truncate(time.Minute).Add(time.Minute) // exclusive
	hours, hoursEnd := from.Truncate(time.Hour), end.Truncate(time.Hour)
	if hours.Before(from) {
		hours = hours.Add(time.Hour)
	}
	add := func(hour bool, lo, hi time.Time, unit time.Duration) {
		for t := lo; t.Before(hi); t = t.Add(unit) {
			slots = append(slots, StatsSlot{Hour: hour, Start: t})
		}
	}
	if !hours.Before(hoursEnd) {
		add(false, from, end, time.Minute)
		return from, to, slots
	}
	add(false, from, hours, time.Minute)
	add(true, hours, hoursEnd, time.Hour)
	add(false, hoursEnd, end, time.Minute)
	return from, to, slots
}
