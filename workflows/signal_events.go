package workflows

import (
	"encoding/json"
	"time"

	"github.com/weft-run/weft/events"
)

// newSignalEvent builds signal_waiting (waiting, with the deadline of a
// timed wait) or signal_received.
func newSignalEvent(waiting bool, stepID, name string, payload json.RawMessage, deadline time.Time) []events.Event {
	t := events.SignalReceived
	if waiting {
		t = events.SignalWaiting
	}
	return []events.Event{events.New(t, events.SignalDetails{StepID: stepID, Name: name, Payload: payload, WakeAt: deadline})}
}

// timerEvent builds timer_started or timer_fired of step stepID; signal
// names the wait whose timeout fired ("" for a sleep).
func timerEvent(t events.Type, stepID string, wakeAt time.Time, signal string) []events.Event {
	return []events.Event{events.New(t, events.TimerDetails{StepID: stepID, WakeAt: wakeAt, Signal: signal})}
}
