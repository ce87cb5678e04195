package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Lifecycle topics: what happens to sockets, for whoever wants to react to
// it (audit, analytics, a workflow bound to connection events) by
// subscribing to the bus.
const (
	TopicConnectionOpened   = "ws.connection.opened"
	TopicConnectionClosed   = "ws.connection.closed"
	TopicConnectionRejected = "ws.connection.rejected"
	TopicMessageReceived    = "ws.message.received"
	TopicMessageSent        = "ws.message.sent"
	TopicBroadcastCompleted = "ws.broadcast.completed"
)

// LifecycleTopics lists every lifecycle topic.
var LifecycleTopics = []string{
	TopicConnectionOpened, TopicConnectionClosed, TopicConnectionRejected,
	TopicMessageReceived, TopicMessageSent, TopicBroadcastCompleted,
}

// PublishLifecycle publishes one lifecycle event as JSON on topic, if
// anyone follows topic: payload is only called (and its result encoded)
// then, so a socket's every frame costs nothing when nobody listens.
func (b *Bus) PublishLifecycle(topic string, payload func() any) error {
	if !b.Followed(topic) {
		return nil
	}
	raw, err := json.Marshal(payload())
	if err != nil {
		return fmt.Errorf("encode %s: %w", topic, err)
	}
	if err := b.pub.Publish(topic, message.NewMessage(watermill.NewShortUUID(), raw)); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// SubscribeTopic follows any topic, raw (lifecycle topics, for tests and
// integrations). The channel closes when ctx ends.
func (b *Bus) SubscribeTopic(ctx context.Context, topic string) (<-chan *message.Message, error) {
	return b.sub.Subscribe(ctx, topic)
}
