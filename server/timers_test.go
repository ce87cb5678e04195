package server_test

import (
	"testing"
	"time"

	"github.com/weft-run/weft/server"
)

// timerDetails are the details of timer_started and timer_fired.
type timerDetails struct {
	StepID string    `json:"step_id"`
	WakeAt time.Time `json:"wake_at"`
	Signal string    `json:"signal"`
}

// checkOneTimer fails unless frames hold exactly one timer_started and one
// timer_fired for step 1, in that order, with the same wake time, and the
// timer fired no earlier than it was due.
func checkOneTimer(t *testing.T, frames []frame) {
	t.Helper()
	checkSeqs(t, frames, 1)
	if count(frames, "timer_started") != 1 || count(frames, "timer_fired") != 1 {
		t.Fatalf("events = %s, want one timer_started and one timer_fired", eventTypes(frames))
	}
	var started, fired eventData
	for _, f := range frames {
		switch f.Type {
		case "timer_started":
			started = f.event(t)
		case "timer_fired":
			fired = f.event(t)
		}
	}
	if started.Seq >= fired.Seq {
		t.Fatalf("timer_started at seq %d, timer_fired at %d", started.Seq, fired.Seq)
	}
	s, f := decode[timerDetails](t, started.Details), decode[timerDetails](t, fired.Details)
	if s.StepID != "1" || f.StepID != "1" || !s.WakeAt.Equal(f.WakeAt) || s.Signal != "" || f.Signal != "" {
		t.Fatalf("timer_started %s, timer_fired %s", started.Details, fired.Details)
	}
	if !s.WakeAt.After(started.Timestamp) || fired.Timestamp.Before(f.WakeAt) {
		t.Fatalf("started at %s, due %s, fired at %s", started.Timestamp, s.WakeAt, fired.Timestamp)
	}
}

// A durable sleep shows in the stream as timer_started then timer_fired,
// once each, whether it waits in its goroutine or passivated.
func TestSleepEmitsTimerEvents(t *testing.T) {
	cases := []struct {
		name    string
		seconds float64
		adjust  func(*server.Config)
	}{
		{"in its goroutine", 0.1, nil},
		{"suspended and passivated", 1.2, passivateSoon},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := bootServer(t, "", tc.adjust)
			c := dial(t, ts, adminToken)
			frames := startAndCollect(t, c, "nap", "nap", map[string]any{"seconds": tc.seconds})
			if last := frames[len(frames)-1]; last.Type != "execution_completed" {
				t.Fatalf("nap ended with %s", eventTypes(frames))
			}
			checkOneTimer(t, frames)
		})
	}
}

// A restart while sleeping neither starts the timer again nor loses its
// firing: the history holds one timer_started and one timer_fired.
func TestRestartWhileSleepingKeepsOneTimer(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	c := dial(t, ts, adminToken)
	id := startNoSub(t, c, "nap", map[string]any{"seconds": 2})
	c.request("sub", "execution.subscribe", map[string]any{"execution_id": id})
	for {
		f := c.read()
		if f.ID == "sub" && f.Type == "timer_started" {
			break
		}
		if f.ID == "sub" && (f.Complete || f.Error != nil) {
			t.Fatalf("stream ended before timer_started: %+v", f)
		}
	}
	ts.stop(t)

	ts2 := startServer(t, dir)
	c2 := dial(t, ts2, adminToken)
	frames := c2.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": id})
	if last := frames[len(frames)-1]; last.Type != "execution_completed" {
		t.Fatalf("nap ended with %s", eventTypes(frames))
	}
	checkOneTimer(t, frames)
}

// A signal wait is announced by signal_waiting with its step id and, when
// it has a timeout, its deadline; a timeout that passes ends it with
// timer_fired naming the signal (there is no timer_started: the wait is
// not a sleep).
func TestSignalWaitEvents(t *testing.T) {
	ts := startServer(t, "")
	c := dial(t, ts, adminToken)

	t.Run("timeout", func(t *testing.T) {
		frames := startAndCollect(t, c, "timeout", "approval", map[string]any{"timeout_ms": 100})
		checkSeqs(t, frames, 1)
		if count(frames, "timer_started") != 0 || count(frames, "timer_fired") != 1 {
			t.Fatalf("events = %s", eventTypes(frames))
		}
		waiting := details[timerDetails](t, frames, "signal_waiting")
		fired := details[timerDetails](t, frames, "timer_fired")
		if waiting.StepID != "2" || waiting.WakeAt.IsZero() || fired.StepID != "2" || !fired.WakeAt.Equal(waiting.WakeAt) || fired.Signal != "approve" {
			t.Fatalf("signal_waiting %+v, timer_fired %+v", waiting, fired)
		}
		if last := frames[len(frames)-1]; last.Type != "execution_failed" {
			t.Fatalf("approval ended with %s", eventTypes(frames))
		}
	})
	t.Run("signalled", func(t *testing.T) {
		id := startNoSub(t, c, "approval", map[string]any{})
		waitStatus(t, c, id, "waiting")
		c.call("sig", "execution.signal", map[string]any{"execution_id": id, "name": "approve", "payload": 1})
		frames := c.readUntilCompleteAfter("sub", "execution.subscribe", map[string]any{"execution_id": id})
		waiting := details[timerDetails](t, frames, "signal_waiting")
		received := details[timerDetails](t, frames, "signal_received")
		if waiting.StepID != "2" || !waiting.WakeAt.IsZero() || received.StepID != "2" || count(frames, "timer_fired") != 0 {
			t.Fatalf("signal_waiting %+v, signal_received %+v, events %s", waiting, received, eventTypes(frames))
		}
	})
}
