package actors

import (
	"context"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
)

// MaxReplayGap caps how long a replay at original speed sleeps between two
// events. A history with a day-long durable sleep or a signal that came a
// week later would otherwise hold the replay (and its socket request) for
// that long; every longer gap is shortened to this.
const MaxReplayGap = 5 * time.Second

// ReplayRequest is the request of execution.replay.
type ReplayRequest struct {
	ExecutionID string `json:"execution_id"`
	// Speed 0 re-sends as fast as the client reads; 1 keeps the original
	// gaps between events (each capped at MaxReplayGap).
	Speed float64 `json:"speed"`
}

// Replay re-sends the stored events of an execution, each marked
// data.replay=true, in seq order. deliver's last argument is true for the
// last stored event (the terminal one for an ended execution; for a live
// execution, the last one stored when the replay reached the end: a replay
// does not follow live events, Subscribe does). Scope executions:read.
func (s *Service) Replay(ctx context.Context, who weft.Identity, req ReplayRequest, deliver func(e events.Event, last bool) error) error {
	if err := who.Require(weft.ScopeExecutionsRead); err != nil {
		return err
	}
	if req.Speed != 0 && req.Speed != 1 {
		return weft.Errorf(weft.CodeInvalidRequest, "speed must be 0 (as fast as possible) or 1 (original timing)")
	}
	if _, err := s.visibleExecution(ctx, who, req.ExecutionID); err != nil {
		return err
	}
	// One event is held back so the last one can be marked as such.
	var held *events.Event
	var prevAt time.Time
	send := func(e events.Event, last bool) error {
		if req.Speed == 1 && !prevAt.IsZero() {
			gap := min(e.Data.Timestamp.Sub(prevAt), MaxReplayGap)
			if gap > 0 {
				if err := sleepCtx(ctx, gap); err != nil {
					return err
				}
			}
		}
		prevAt = e.Data.Timestamp
		e.Data.Replay = true
		return deliver(e, last)
	}
	after := uint64(0)
	for {
		evs, err := s.sys.store.Events(ctx, req.ExecutionID, after, catchUpPage)
		if err != nil {
			return weft.Internal(err)
		}
		for i := range evs {
			if held != nil {
				if err := send(*held, false); err != nil {
					return err
				}
			}
			held = &evs[i]
			after = evs[i].Seq()
		}
		if len(evs) < catchUpPage {
			break
		}
	}
	if held == nil {
		return weft.Errorf(weft.CodeExecutionNotFound, "execution %q has no events", req.ExecutionID)
	}
	return send(*held, true)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
