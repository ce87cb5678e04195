package actors

import (
	"context"
	"errors"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
)

// catchUpPage is how many events one store read returns (history, replay).
const catchUpPage = 512

// Subscription follows one execution: stored events after a seq, then live
// ones, with no gap and no duplicate. Get one from Service.Subscribe, send
// its Info to the client, then call Run.
type Subscription struct {
	Info SubscriptionInfo
	// Ended is true when the execution has ended and nothing is left after
	// the requested seq: Run would deliver nothing.
	Ended bool

	svc    *Service
	id     string
	after  uint64
	feed   *events.Feed
	cancel context.CancelFunc
}

// SubscriptionInfo answers execution.subscribe.
type SubscriptionInfo struct {
	ExecutionID string      `json:"execution_id"`
	Status      weft.Status `json:"status"`
	LastSeq     uint64      `json:"last_seq"`
}

// Subscribe opens a subscription to an execution's events after afterSeq.
// It follows the bus before it reads the store, so nothing published in
// between is missed; Run drops by seq what both deliver.
func (s *Service) Subscribe(ctx context.Context, who weft.Identity, id string, afterSeq uint64) (*Subscription, error) {
	if err := who.Require(weft.ScopeExecutionsRead); err != nil {
		return nil, err
	}
	if _, err := s.visibleExecution(ctx, who, id); err != nil {
		return nil, err
	}
	subCtx, cancel := context.WithCancel(ctx)
	feed, err := s.sys.bus.Subscribe(subCtx, id)
	if err != nil {
		cancel()
		return nil, weft.Internal(err)
	}
	exec, err := s.visibleExecution(ctx, who, id)
	if err != nil {
		cancel()
		return nil, err
	}
	sub := &Subscription{
		Info: SubscriptionInfo{ExecutionID: id, Status: exec.Status, LastSeq: exec.LastSeq},
		svc:  s, id: id, after: afterSeq, feed: feed, cancel: cancel,
	}
	if exec.Status.Terminal() && afterSeq >= exec.LastSeq {
		sub.Ended = true
		cancel()
	}
	return sub, nil
}

// Close stops following the bus. Run returns soon after.
func (sub *Subscription) Close() { sub.cancel() }

// Run delivers events in seq order, each once, until the terminal event has
// been delivered (nil), ctx ends, or deliver fails: the stored events after
// the requested seq, then live ones. deliver runs in Run's goroutine.
func (sub *Subscription) Run(ctx context.Context, deliver func(events.Event) error) error {
	return sub.RunStored(ctx, func(s events.Stored) error {
		e, err := s.Decode()
		if err != nil {
			return weft.Internal(err)
		}
		return deliver(e)
	})
}

// RunStored is Run without decoding: deliver gets each event's stored
// bytes, ready to be framed (events.Follow). Transports use it, so that
// following an execution costs no encoding or decoding per subscriber.
func (sub *Subscription) RunStored(ctx context.Context, deliver func(events.Stored) error) error {
	defer sub.cancel()
	if sub.Ended {
		return nil
	}
	err := events.Follow(ctx, sub.feed, sub.svc.sys.store, sub.id, sub.after, deliver)
	if errors.Is(err, events.ErrBusClosed) {
		return weft.Errorf(weft.CodeUnavailable, "server shutting down")
	}
	return err
}
