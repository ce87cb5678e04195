package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/weft-run/weft/events/inproc"
)

// Bus carries stored events from execution actors to whoever follows an
// execution, over Watermill: one topic per execution, each message's payload
// the event's stored bytes. Under it is any Watermill Pub/Sub that keeps
// publish order per topic and subscriber: the embedded inproc.PubSub, or
// NATS JetStream in cluster mode.
type Bus struct {
	pub  message.Publisher
	sub  message.Subscriber
	idle time.Duration // WithIdleCheck
}

// WithIdleCheck makes every Follow of the bus re-read the store after idle
// without a message: for a Pub/Sub that may drop a message with nothing
// after it to reveal the gap (core NATS: a lost terminal event would leave
// a follower waiting for ever). It returns b.
func (b *Bus) WithIdleCheck(idle time.Duration) *Bus {
	b.idle = idle
	return b
}

// NewBus returns a bus over any Watermill publisher and subscriber that keep
// order per topic.
func NewBus(pub message.Publisher, sub message.Subscriber) *Bus {
	return &Bus{pub: pub, sub: sub}
}

// DefaultQueueSize bounds what the embedded bus holds for one subscriber
// that does not keep up; past it the subscriber is told it overflowed and
// reads the store instead.
const DefaultQueueSize = 1024

// NewInProcessBus returns the embedded, in-process bus (inproc.PubSub):
// ordered, never waits for a subscriber, no goroutine per message.
func NewInProcessBus(log *slog.Logger) *Bus {
	ps := inproc.New(inproc.Config{QueueSize: DefaultQueueSize, Logger: watermill.NewSlogLogger(log)})
	return &Bus{pub: ps, sub: ps}
}

// ExecutionTopic is the topic of one execution's events.
func ExecutionTopic(executionID string) string { return "executions." + executionID }

const seqKey = "seq"

// Publish sends already-stored events of one execution, all of one topic.
// The payloads are the stored bytes themselves: nothing is encoded here.
func (b *Bus) Publish(executionID string, evs ...Stored) error {
	if len(evs) == 0 {
		return nil
	}
	topic := ExecutionTopic(executionID)
	if !b.Followed(topic) {
		return nil
	}
	msgs := make([]*message.Message, len(evs))
	for i, e := range evs {
		seq := strconv.FormatUint(e.Seq, 10)
		// execution id + seq is unique, and free: a random UUID per event
		// cost more than the rest of Publish.
		msgs[i] = message.NewMessage(executionID+"/"+seq, e.JSON)
		msgs[i].Metadata.Set(seqKey, seq)
	}
	if err := b.pub.Publish(topic, msgs...); err != nil {
		return fmt.Errorf("publish events of %s: %w", executionID, err)
	}
	return nil
}

// Followed reports whether anyone subscribes to topic. A Pub/Sub that
// cannot tell is assumed followed.
func (b *Bus) Followed(topic string) bool {
	if c, ok := b.pub.(interface{ HasSubscribers(string) bool }); ok {
		return c.HasSubscribers(topic)
	}
	return true
}

// ErrBusClosed ends a Follow whose bus closed under it (shutdown).
var ErrBusClosed = errors.New("event bus closed")

// Feed is one subscriber's view of an execution's topic, in publish order.
type Feed struct {
	msgs <-chan *message.Message
	idle time.Duration // 0: no idle check
}

// Subscribe follows one execution's topic until ctx ends. Subscribe before
// reading the store (Follow does both in that order), so that nothing
// published in between is missed.
func (b *Bus) Subscribe(ctx context.Context, executionID string) (*Feed, error) {
	msgs, err := b.sub.Subscribe(ctx, ExecutionTopic(executionID))
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", executionID, err)
	}
	return &Feed{msgs: msgs, idle: b.idle}, nil
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
