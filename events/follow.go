package events

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/weft-run/weft/events/inproc"
)

// Log reads one execution's stored events: the store, which is the truth.
type Log interface {
	// StoredEvents returns up to limit events with seq > afterSeq, in seq
	// order.
	StoredEvents(ctx context.Context, executionID string, afterSeq uint64, limit int) ([]Stored, error)
}

// catchUpPage is how many stored events one store read returns.
const catchUpPage = 512

// Follow delivers the events of one execution with seq > after, in seq
// order, each exactly once: first what the store holds, then what the feed
// brings live, until the terminal event has been delivered (nil), ctx ends,
// the bus closes (ErrBusClosed) or deliver fails. feed must have been
// subscribed before Follow is called.
//
// The hand-over from store to feed needs no timer and no reordering: the
// feed is ordered and was subscribed before the store was read, and an
// event is stored before it is published. So every event is either in the
// store read or on the feed, and the feed's events that the read already
// covered are exactly those with seq below the next one wanted. The feed
// may also say it overflowed (the subscriber fell behind and the bus
// dropped events for it): then the store is read again from where the
// subscriber is, and the feed continues after it.
func Follow(ctx context.Context, feed *Feed, log Log, executionID string, after uint64, deliver func(Stored) error) error {
	f := follower{log: log, id: executionID, next: after + 1, deliver: deliver}
	if done, err := f.catchUp(ctx); done || err != nil {
		return err
	}
	var idle <-chan time.Time
	if feed.idle > 0 {
		t := time.NewTicker(feed.idle)
		defer t.Stop()
		idle = t.C
	}
	for {
		select {
		case <-idle:
			// A lossy bus may have dropped the last event: the store has it.
			if done, err := f.catchUp(ctx); done || err != nil {
				return err
			}
		case msg, ok := <-feed.msgs:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return ErrBusClosed
			}
			done, err := f.live(ctx, msg)
			msg.Ack()
			if done || err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type follower struct {
	log     Log
	id      string
	next    uint64 // the seq to deliver next
	deliver func(Stored) error
}

// live handles one message from the feed.
func (f *follower) live(ctx context.Context, msg *message.Message) (bool, error) {
	if inproc.Overflowed(msg) {
		return f.catchUp(ctx)
	}
	seq, err := strconv.ParseUint(msg.Metadata.Get(seqKey), 10, 64)
	switch {
	case err != nil:
		// Not one of ours (in cluster mode any client of the NATS account
		// can publish on the subject): the store says what is there.
		return f.catchUp(ctx)
	case seq < f.next:
		return false, nil // the store read already delivered it
	case seq > f.next:
		// An ordered feed skips only after an overflow marker; a bus that
		// lost a message anyway is covered by the store.
		if done, err := f.catchUp(ctx); done || err != nil || seq < f.next {
			return done, err
		}
		if seq > f.next {
			return false, fmt.Errorf("events of %s: seq %d was published but the store ends before %d", f.id, seq, f.next)
		}
	}
	s, err := ParseStored(seq, msg.Payload)
	if err != nil {
		return false, fmt.Errorf("event of %s: %w", f.id, err)
	}
	return f.release(s)
}

// catchUp delivers what the store holds from f.next on.
func (f *follower) catchUp(ctx context.Context) (bool, error) {
	for {
		evs, err := f.log.StoredEvents(ctx, f.id, f.next-1, catchUpPage)
		if err != nil {
			return false, fmt.Errorf("read events of %s: %w", f.id, err)
		}
		for _, s := range evs {
			if s.Seq != f.next {
				return false, fmt.Errorf("events of %s: store returned seq %d, want %d", f.id, s.Seq, f.next)
			}
			if done, err := f.release(s); done || err != nil {
				return done, err
			}
		}
		if len(evs) < catchUpPage {
			return false, nil
		}
	}
}

func (f *follower) release(s Stored) (bool, error) {
	if err := f.deliver(s); err != nil {
		return false, err
	}
	f.next = s.Seq + 1
	return s.Type.Terminal(), nil
}
