package main_test

import (
	"slices"
	"testing"
	"time"
)

// Schedules across a kill -9 of a real `weft serve` (helpers in
// crash_test.go): a firing never runs twice, and the firings missed while
// the server was down are skipped (catch_up skip) or run once (run_once).

const crashEvery = 4 * time.Second

type schedExecution struct {
	ExecutionID string    `json:"execution_id"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	Metadata    struct {
		ScheduleID   string    `json:"schedule_id"`
		ScheduledFor time.Time `json:"scheduled_for"`
	} `json:"metadata"`
}

// scheduledEchoes lists the echo executions by schedule id, each sorted by
// scheduled time (one request: the socket allows 100 a second).
func scheduledEchoes(t *testing.T, w *wsConn) map[string][]schedExecution {
	t.Helper()
	var l struct {
		Items []schedExecution `json:"items"`
	}
	w.mustCall(t, "executions.list", map[string]any{"workflow": "echo", "limit": 1000}, &l)
	out := map[string][]schedExecution{}
	for _, e := range l.Items {
		out[e.Metadata.ScheduleID] = append(out[e.Metadata.ScheduleID], e)
	}
	for _, es := range out {
		slices.SortFunc(es, func(a, b schedExecution) int { return a.Metadata.ScheduledFor.Compare(b.Metadata.ScheduledFor) })
	}
	return out
}

func executionsOf(t *testing.T, w *wsConn, id string) []schedExecution {
	t.Helper()
	return scheduledEchoes(t, w)[id]
}

type crashSchedule struct {
	id      string
	created time.Time
}

// firing is the due time of the k-th firing (k >= 1).
func (s crashSchedule) firing(k int) time.Time { return s.created.Add(time.Duration(k) * crashEvery) }

func createCrashSchedule(t *testing.T, w *wsConn, catchUp string) crashSchedule {
	t.Helper()
	var created struct {
		ScheduleID string `json:"schedule_id"`
	}
	w.mustCall(t, "schedule.create", map[string]any{
		"workflow": "echo", "parameters": map[string]any{"catch_up": catchUp},
		"every": crashEvery.String(), "catch_up": catchUp,
		// The kill may interrupt the first echo, which then resumes at
		// the restart: allow keeps the overlap policy out of the count.
		"overlap": "allow",
	}, &created)
	var info struct {
		CreatedAt time.Time `json:"created_at"`
	}
	w.mustCall(t, "schedule.get", map[string]any{"schedule_id": created.ScheduleID}, &info)
	return crashSchedule{id: created.ScheduleID, created: info.CreatedAt}
}

func TestScheduleCatchUpAcrossKill9(t *testing.T) {
	weftBinary(t)
	dir, keys := t.TempDir(), writeKeys(t)
	p1 := startWeft(t, "weft#1", dir, keys)
	w := mustDial(t, p1.addr)
	skip := createCrashSchedule(t, w, "skip")
	once := createCrashSchedule(t, w, "run_once")

	// Kill the moment both first firings are stored: right after they
	// fired, maybe before the schedules' next_run_at is.
	deadline := time.Now().Add(crashEvery + 10*time.Second)
	for {
		if es := scheduledEchoes(t, w); len(es[skip.id]) > 0 && len(es[once.id]) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the schedules did not fire within %s", crashEvery+10*time.Second)
		}
		time.Sleep(15 * time.Millisecond)
	}
	killAt := time.Now()
	p1.kill9(t)
	t.Logf("killed %s after the first firing was due", killAt.Sub(once.firing(1)).Round(time.Millisecond))

	// Down across the second and third firings of both.
	last := laterOf(skip.firing(3), once.firing(3))
	time.Sleep(time.Until(last.Add(300 * time.Millisecond)))
	launch := time.Now()
	p2 := startWeft(t, "weft#2", dir, keys)
	ready := time.Now()
	if next := earlierOf(skip.firing(4), once.firing(4)); ready.After(next.Add(-200 * time.Millisecond)) {
		t.Fatalf("the restart took %s, too close to the fourth firing for this test to tell missed from due", ready.Sub(launch))
	}
	t.Logf("restarted and ready in %s", ready.Sub(launch).Round(time.Millisecond))

	w2 := mustDial(t, p2.addr)
	fourth := func(s crashSchedule) func() bool {
		return func() bool {
			es := executionsOf(t, w2, s.id)
			return len(es) > 0 && es[len(es)-1].Metadata.ScheduledFor.Equal(s.firing(4))
		}
	}
	for _, s := range []crashSchedule{skip, once} {
		deadline := time.Now().Add(time.Until(s.firing(4)) + 10*time.Second)
		for !fourth(s)() {
			if time.Now().After(deadline) {
				t.Fatalf("schedule %s: no fourth firing after the restart: %+v", s.id, executionsOf(t, w2, s.id))
			}
			time.Sleep(50 * time.Millisecond)
		}
		w2.mustCall(t, "schedule.pause", map[string]any{"schedule_id": s.id}, nil)
	}

	check := func(s crashSchedule, want []int) {
		t.Helper()
		es := executionsOf(t, w2, s.id)
		var got []time.Time
		for _, e := range es {
			got = append(got, e.Metadata.ScheduledFor)
		}
		var wantTimes []time.Time
		for _, k := range want {
			wantTimes = append(wantTimes, s.firing(k))
		}
		if !slices.EqualFunc(got, wantTimes, time.Time.Equal) {
			t.Errorf("schedule %s: executions scheduled for %v, want firings %v = %v", s.id, got, want, wantTimes)
		}
		for _, e := range es {
			if e.Metadata.ScheduledFor.After(killAt) && e.CreatedAt.Before(launch) {
				t.Errorf("schedule %s: execution %s created %s, while the server was down", s.id, e.ExecutionID, e.CreatedAt)
			}
		}
	}
	// skip: the second and third firings fell in the downtime: not run.
	check(skip, []int{1, 4})
	// run_once: one execution for both, for the earliest missed time.
	check(once, []int{1, 2, 4})

	var info struct {
		Missed  int64 `json:"missed"`
		Firings int64 `json:"firings"`
	}
	w2.mustCall(t, "schedule.get", map[string]any{"schedule_id": skip.id}, &info)
	if info.Missed != 2 || info.Firings != 2 {
		t.Errorf("skip schedule counts missed %d firings %d, want 2 and 2", info.Missed, info.Firings)
	}
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlierOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
