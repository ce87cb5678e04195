package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
)

// How a subscription restores order. A gap (an event arrived before the
// ones it follows) is first given gapWait to close from the bus, which only
// reorders; then the missing events are read from the store. With no bus
// traffic at all the store is polled every idlePoll, so even a bus that
// drops messages cannot leave a subscriber waiting forever.
const (
	gapWait     = 20 * time.Millisecond
	idlePoll    = 2 * time.Second
	catchUpPage = 512
)

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
// between is missed; the sequencer drops what both deliver.
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

// errStop is what a deliver func returns to end Run quietly.
var errStop = errors.New("subscription stopped")

// Run delivers events in seq order until the terminal event has been
// delivered (nil), ctx ends, or deliver fails. deliver runs in Run's
// goroutine.
func (sub *Subscription) Run(ctx context.Context, deliver func(events.Event) error) error {
	defer sub.cancel()
	if sub.Ended {
		return nil
	}
	seq := events.NewSequencer(sub.after)
	release := func(evs []events.Event) (bool, error) {
		for _, e := range evs {
			if err := deliver(e); err != nil {
				return false, err
			}
			if e.Type.Terminal() {
				return true, nil
			}
		}
		return false, nil
	}
	catchUp := func() (bool, error) {
		for {
			evs, err := sub.svc.sys.store.Events(ctx, sub.id, seq.Next()-1, catchUpPage)
			if err != nil {
				return false, fmt.Errorf("read events of %s: %w", sub.id, err)
			}
			for _, e := range evs {
				if done, err := release(seq.Push(e)); done || err != nil {
					return done, err
				}
			}
			if len(evs) < catchUpPage {
				return false, nil
			}
		}
	}
	if done, err := catchUp(); done || err != nil {
		return err
	}
	timer := time.NewTimer(idlePoll)
	defer timer.Stop()
	for {
		select {
		case <-sub.feed.Lost:
			if done, err := catchUp(); done || err != nil {
				return err
			}
		case e, ok := <-sub.feed.C:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return weft.Errorf(weft.CodeUnavailable, "event bus closed")
			}
			if done, err := release(seq.Push(e)); done || err != nil {
				return err
			}
			if seq.Waiting() {
				timer.Reset(gapWait)
			} else {
				timer.Reset(idlePoll)
			}
		case <-timer.C:
			if done, err := catchUp(); done || err != nil {
				return err
			}
			timer.Reset(idlePoll)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
