package eventstest

import (
	"context"
	"sync"

	"github.com/weft-run/weft/events"
)

// Log is one execution's stored events in memory (an events.Log). It is
// safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	evs []events.Stored
}

// Append stores s after the events already stored; the caller keeps the
// seqs gapless.
func (l *Log) Append(s events.Stored) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, s)
}

// Len is how many events are stored: the last seq.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.evs)
}

// StoredEvents returns up to limit events with seq > after (limit <= 0:
// all), in seq order.
func (l *Log) StoredEvents(_ context.Context, _ string, after uint64, limit int) ([]events.Stored, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after >= uint64(len(l.evs)) {
		return nil, nil
	}
	out := l.evs[after:]
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return append([]events.Stored(nil), out...), nil
}
