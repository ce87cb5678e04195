package main_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// timerOf reads the timer details of a timer_* or signal_waiting event.
func timerOf(e event) (stepID string, wakeAt time.Time, signal string, err error) {
	var d struct {
		Details struct {
			StepID string    `json:"step_id"`
			WakeAt time.Time `json:"wake_at"`
			Signal string    `json:"signal"`
		} `json:"details"`
	}
	err = json.Unmarshal(e.Raw, &d)
	return d.Details.StepID, d.Details.WakeAt, d.Details.Signal, err
}

// checkTimers checks that a stream holds exactly the timer events it
// should: started (0 or 1) timer_started, one timer_fired, for the same
// step and wake time as the event that announced the wait (timer_started,
// or signal_waiting for a wait with a timeout), the fired one naming
// signal.
func checkTimers(evs []event, announce string, started int, signal string) error {
	if n := countType(evs, "timer_started"); n != started {
		return fmt.Errorf("%d timer_started, want %d", n, started)
	}
	if n := countType(evs, "timer_fired"); n != 1 {
		return fmt.Errorf("%d timer_fired, want 1", n)
	}
	a, ai := firstOf(evs, announce)
	f, fi := firstOf(evs, "timer_fired")
	if ai < 0 || fi < ai {
		return fmt.Errorf("%s at %d, timer_fired at %d", announce, ai, fi)
	}
	aStep, aWake, _, err := timerOf(a)
	if err != nil {
		return err
	}
	fStep, fWake, fSignal, err := timerOf(f)
	if err != nil {
		return err
	}
	if aStep == "" || aStep != fStep || aWake.IsZero() || !aWake.Equal(fWake) || fSignal != signal {
		return fmt.Errorf("%s %s, timer_fired %s", announce, a.Raw, f.Raw)
	}
	return nil
}

// TestKill9KeepsTimerEventsOnce kills the server while a sleep and a signal
// wait with a timeout are pending: after the restart each wait ends with
// one timer_fired, and neither announces itself a second time.
func TestKill9KeepsTimerEventsOnce(t *testing.T) {
	weftBinary(t)
	dir, keys := t.TempDir(), writeKeys(t)
	p1 := startWeft(t, "weft#1", dir, keys)
	w := mustDial(t, p1.addr)
	napID := startWorkflow(t, w, "nap", map[string]any{"seconds": 2})
	approvalID := startWorkflow(t, w, "approval", map[string]any{"timeout_ms": 2000})
	deadline := time.Now().Add(10 * time.Second)
	for getExecution(t, w, napID).Status != "waiting" || getExecution(t, w, approvalID).Status != "waiting" {
		if time.Now().After(deadline) {
			t.Fatal("nap and approval not both waiting after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p1.kill9(t)

	p2 := startWeft(t, "weft#2", dir, keys)
	streams, err := collectStreams(p2.addr, []string{napID, approvalID}, 2, time.Now().Add(20*time.Second))
	if err != nil {
		t.Fatalf("collect streams: %v", err)
	}
	for _, c := range []struct {
		id, announce, signal, last string
		started                    int
	}{
		{napID, "timer_started", "", "execution_completed", 1},
		{approvalID, "signal_waiting", "approve", "execution_failed", 0},
	} {
		evs := streams[c.id]
		if len(evs) == 0 {
			t.Errorf("%s: no events", c.id)
			continue
		}
		err := checkSeqs(evs)
		if err == nil {
			err = checkTimers(evs, c.announce, c.started, c.signal)
		}
		if err == nil && evs[len(evs)-1].Type != c.last {
			err = fmt.Errorf("ended with %s, want %s", evs[len(evs)-1].Type, c.last)
		}
		if err != nil {
			t.Errorf("%s: %v\n%s", c.id, err, dump(evs))
		}
	}
}
