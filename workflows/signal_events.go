package workflows

import (
	"encoding/json"

	"github.com/weft-run/weft/events"
)

func newSignalEvent(waiting bool, name string, payload json.RawMessage) []events.Event {
	t := events.SignalReceived
	if waiting {
		t = events.SignalWaiting
	}
	return []events.Event{events.New(t, events.SignalDetails{Name: name, Payload: payload})}
}
