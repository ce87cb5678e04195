package jsstore

import (
	"context"
	"fmt"

	"github.com/weft-run/weft/persistence"
)

// Adopt readies execution id for a node that is about to run it (a
// partition acquired after another node died): it reads where the log
// ends and re-applies the log's last write to the buckets (its
// checkpoints, status and consumed signals), which the dead writer may
// have appended without applying. Call it before reading the execution's
// checkpoints to resume it: otherwise a step whose end is in the log but
// not in its checkpoint would run again.
//
// While writes of id are queued here nothing needs doing: the drain
// re-applies the last write before its first append.
func (s *Store) Adopt(ctx context.Context, id string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return persistence.ErrClosed
	}
	l := s.logs[id]
	if l == nil {
		l = &execLog{id: id}
		s.logs[id] = l
	}
	if l.draining {
		s.mu.Unlock()
		return nil
	}
	// Hold the log as a drain would, so no write reads its state meanwhile.
	l.draining = true
	s.drains.Add(1)
	s.mu.Unlock()

	_, err := s.logState(ctx, l)
	if err != nil {
		err = fmt.Errorf("jsstore: adopt %s: %w", id, err)
	}
	s.mu.Lock()
	l.draining = false
	if len(l.queue) > 0 {
		// Writes queued while it was held: drain them now.
		l.draining = true
		s.drains.Add(1)
		go s.drain(l)
	} else if (l.state == nil || l.state.ended) && s.logs[id] == l {
		delete(s.logs, id)
	}
	s.mu.Unlock()
	s.drains.Done()
	return err
}
