package actors

import (
	"strings"
	"time"
	_ "time/tzdata" // time zones of cron schedules work on hosts without zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/weft-run/weft"
)

// Overlap policies: what a firing does while the schedule's previous
// execution has not ended.
const (
	OverlapSkip           = "skip"            // do not start (default)
	OverlapAllow          = "allow"           // start anyway
	OverlapCancelPrevious = "cancel_previous" // cancel the previous one, then start
)

// Catch-up policies: what happens to firings missed while the server was
// down.
const (
	CatchUpSkip    = "skip"     // drop them (default)
	CatchUpRunOnce = "run_once" // run one execution for all of them, at start
)

// MinScheduleEvery is the shortest fixed interval a schedule may have.
const MinScheduleEvery = time.Second

// scheduleSpec is a parsed schedule: a cron expression in a time zone, or
// a fixed interval anchored at the schedule's creation.
type scheduleSpec struct {
	cron   cron.Schedule // nil for an interval
	loc    *time.Location
	every  time.Duration
	anchor time.Time // interval firings are anchor + k*every
}

// parseScheduleSpec checks a schedule's spec: exactly one of a 5-field cron
// expression (with an optional IANA time zone, UTC by default) and a Go
// duration of at least MinScheduleEvery. Errors are INVALID_REQUEST.
//
// Cron parsing is robfig/cron v3's ParseStandard, the parser most Go
// schedulers use. weft takes 5 fields only and the zone from tz: the
// library's own CRON_TZ= prefix and @descriptors are refused, so a spec has
// one spelling.
func parseScheduleSpec(cronExpr, tz, every string, anchor time.Time) (scheduleSpec, error) {
	cronExpr, tz, every = strings.TrimSpace(cronExpr), strings.TrimSpace(tz), strings.TrimSpace(every)
	switch {
	case cronExpr == "" && every == "":
		return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "one of cron and every is required")
	case cronExpr != "" && every != "":
		return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "cron and every are exclusive")
	case every != "":
		if tz != "" {
			return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "tz applies to cron schedules only")
		}
		d, err := time.ParseDuration(every)
		if err != nil {
			return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "every: %v", err)
		}
		if d < MinScheduleEvery {
			return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "every must be at least %s", MinScheduleEvery)
		}
		return scheduleSpec{every: d, anchor: anchor}, nil
	}
	if n := len(strings.Fields(cronExpr)); n != 5 || strings.HasPrefix(cronExpr, "@") {
		return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "cron must have 5 fields (minute hour day-of-month month day-of-week), got %q", cronExpr)
	}
	if strings.Contains(cronExpr, "TZ=") {
		return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "cron: give the time zone in tz")
	}
	sched, err := cron.ParseStandard(cronExpr)
	if err != nil {
		return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "cron: %v", err)
	}
	loc := time.UTC
	if tz != "" {
		if tz == "Local" {
			return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "tz: name an IANA zone (e.g. Europe/Paris), not Local")
		}
		if loc, err = time.LoadLocation(tz); err != nil {
			return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "tz: unknown time zone %q", tz)
		}
	}
	spec := scheduleSpec{cron: sched, loc: loc}
	if spec.after(anchor).IsZero() {
		return scheduleSpec{}, weft.Errorf(weft.CodeInvalidRequest, "cron %q never fires", cronExpr)
	}
	return spec, nil
}

// after returns the first firing strictly after t, in UTC; zero if the
// cron expression matches no time in the next five years.
func (sp scheduleSpec) after(t time.Time) time.Time {
	if sp.cron == nil {
		if t.Before(sp.anchor) {
			return sp.anchor.UTC()
		}
		k := t.Sub(sp.anchor)/sp.every + 1
		return sp.anchor.Add(k * sp.every).UTC()
	}
	next := sp.cron.Next(t.In(sp.loc))
	if next.IsZero() {
		return next
	}
	return next.UTC()
}

// normalizeSpaces stores a cron expression with single spaces.
func normalizeSpaces(s string) string { return strings.Join(strings.Fields(s), " ") }

func trimmed(s string) string { return strings.TrimSpace(s) }
