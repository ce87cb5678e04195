package actors

import (
	"context"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
)

// History calls fn with each stored event of an execution whose seq is
// greater than afterSeq, in seq order, and returns once the stored history
// is exhausted (it does not follow live events: Subscribe does). The scope
// and workspace are checked before fn is first called, so an adapter can
// still answer a refusal with a status of its own. An error from fn ends
// History and is returned as is.
func (s *Service) History(ctx context.Context, who weft.Identity, id string, afterSeq uint64, fn func(events.Event) error) error {
	if err := who.Require(weft.ScopeExecutionsRead); err != nil {
		return err
	}
	if _, err := s.visibleExecution(ctx, who, id); err != nil {
		return err
	}
	for {
		evs, err := s.sys.store.Events(ctx, id, afterSeq, catchUpPage)
		if err != nil {
			return weft.Internal(err)
		}
		for _, e := range evs {
			if err := fn(e); err != nil {
				return err
			}
			afterSeq = e.Seq()
		}
		if len(evs) < catchUpPage {
			return nil
		}
	}
}
