package jsstore

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// WatchSchedules calls changed after every change of any schedule (a
// create, an update, a delete) by any node, until ctx ends. It is how the
// schedulers of a cluster hear of each other's changes without polling:
// a schedule created on one node is fired by every node's scheduler,
// so it still fires once that node is gone. changed must be quick (a
// scheduler's wake is a non-blocking send).
//
// It returns ctx's error when ctx ends, or the error that stopped the
// watch (the watcher's consumer survives reconnects: a return before ctx
// ends is rare, and the caller watches again).
func (s *Store) WatchSchedules(ctx context.Context, changed func()) error {
	if err := s.open(); err != nil {
		return err
	}
	w, err := s.rest.schedules.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("jsstore: watch schedules: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case entry, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("jsstore: watch schedules: the watcher stopped")
			}
			if entry != nil { // nil: the (empty) initial values are in
				changed()
			}
		}
	}
}
