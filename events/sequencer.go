package events

// Sequencer puts one execution's events back in seq order: it releases each
// seq exactly once, drops duplicates and holds early arrivals until the gap
// before them is filled (from the bus or from the store). It is not safe for
// concurrent use: one subscriber goroutine owns it.
type Sequencer struct {
	next    uint64
	pending map[uint64]Event
}

// NewSequencer starts after seq after (the next event released is after+1).
func NewSequencer(after uint64) *Sequencer {
	return &Sequencer{next: after + 1, pending: make(map[uint64]Event)}
}

// Next is the seq the sequencer waits for.
func (s *Sequencer) Next() uint64 { return s.next }

// Waiting reports whether early events are held back by a gap.
func (s *Sequencer) Waiting() bool { return len(s.pending) > 0 }

// Push offers one event and returns the events now ready, in order.
func (s *Sequencer) Push(e Event) []Event {
	seq := e.Seq()
	switch {
	case seq < s.next:
		return nil // duplicate
	case seq > s.next:
		s.pending[seq] = e
		return nil
	}
	ready := []Event{e}
	s.next++
	for {
		p, ok := s.pending[s.next]
		if !ok {
			break
		}
		delete(s.pending, s.next)
		ready = append(ready, p)
		s.next++
	}
	return ready
}
