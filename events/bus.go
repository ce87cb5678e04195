package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// Bus carries stored events from execution actors to whoever follows an
// execution, over Watermill: one topic per execution. It is a doorbell, not
// the truth: it may reorder (GoChannel does) or, with a real broker, drop and
// redeliver; Sequencer and the store make delivery exact.
type Bus struct {
	pub message.Publisher
	sub message.Subscriber
}

// NewBus returns a bus over any Watermill publisher and subscriber (for
// example NATS JetStream, to span several nodes).
func NewBus(pub message.Publisher, sub message.Subscriber) *Bus {
	return &Bus{pub: pub, sub: sub}
}

// NewGoChannelBus returns the embedded, in-process bus (Watermill's
// GoChannel). Publishing never waits for subscribers: a slow subscriber must
// not stall executions (DEPENDENCIES.md), so order is restored by seq.
func NewGoChannelBus(log *slog.Logger) *Bus {
	// Watermill logs "no subscribers" at Info for every event nobody
	// follows; that is normal here, so its Info goes to Debug.
	logger := watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	gc := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 256}, logger)
	return &Bus{pub: gc, sub: gc}
}

// ExecutionTopic is the topic of one execution's events.
func ExecutionTopic(executionID string) string { return "executions." + executionID }

const seqKey = "seq"

// Publish sends already-stored events of one execution.
func (b *Bus) Publish(evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	msgs := make([]*message.Message, len(evs))
	for i, e := range evs {
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %d: %w", e.Seq(), err)
		}
		// execution id + seq is unique, and free: a random UUID per event
		// cost more than the rest of Publish.
		msgs[i] = message.NewMessage(e.Data.ExecutionID+"/"+strconv.FormatUint(e.Seq(), 10), payload)
		msgs[i].Metadata.Set(seqKey, strconv.FormatUint(e.Seq(), 10))
	}
	if err := b.pub.Publish(ExecutionTopic(evs[0].Data.ExecutionID), msgs...); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	return nil
}

// Feed is one subscriber's view of an execution's topic.
type Feed struct {
	// C carries events in whatever order the bus delivers them; it closes
	// when the subscription's context ends or the bus closes.
	C <-chan Event
	// Lost is signalled when an event was dropped because C was full (or
	// did not decode): the subscriber should read the store now rather
	// than wait for a later event to reveal the gap.
	Lost <-chan struct{}
}

// Subscribe follows one execution's topic until ctx ends. The bus never
// waits for a subscriber: an event that finds C full is dropped and Lost is
// signalled (the store still has it). Otherwise a slow subscriber would pile
// up the bus's delivery goroutines.
func (b *Bus) Subscribe(ctx context.Context, executionID string) (*Feed, error) {
	msgs, err := b.sub.Subscribe(ctx, ExecutionTopic(executionID))
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", executionID, err)
	}
	out := make(chan Event, 1024)
	lost := make(chan struct{}, 1)
	signalLost := func() {
		select {
		case lost <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(out)
		for msg := range msgs {
			var e Event
			decodeErr := json.Unmarshal(msg.Payload, &e)
			msg.Ack()
			if decodeErr != nil {
				signalLost()
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			default:
				signalLost()
			}
		}
	}()
	return &Feed{C: out, Lost: lost}, nil
}

// Close closes the publisher and subscriber.
func (b *Bus) Close() error {
	err := b.pub.Close()
	if any(b.sub) != any(b.pub) {
		if serr := b.sub.Close(); err == nil {
			err = serr
		}
	}
	return err
}
