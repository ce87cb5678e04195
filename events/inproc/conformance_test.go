// Watermill's own Pub/Sub conformance suite (pubsub/tests) against
// inproc, with GuaranteedOrder.

package inproc_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/weft-run/weft/events/inproc"
)

// conformanceFeatures describes inproc.PubSub to the suite honestly:
//
//   - ConsumerGroups false: every subscriber gets every message.
//   - ExactlyOnceDelivery true: a subscriber gets each message once, unless
//     it nacks it (then again until it acks). Overflow drops messages, but
//     the suite's QueueSize is far above its message counts. This also
//     skips TestConcurrentClose and TestContinueAfterSubscribeClose, which
//     the suite has not written for exactly-once Pub/Subs yet.
//   - GuaranteedOrder true (and with a single subscriber): one queue per
//     subscriber, drained by one goroutine, next message only after ack.
//   - Persistent false: nothing survives a PubSub; a second instance shares
//     nothing, hence RequireSingleInstance true.
//   - NewSubscriberReceivesOldMessages false: that test needs messages to
//     outlive a PubSub instance.
//   - ContextPreserved false: a delivered message's context derives from
//     the Subscribe context, not the publisher's, and is cancelled after
//     ack or Close (TestMessageCtx checks exactly that).
//
// The suite publishes before it subscribes in most tests, which only a
// Pub/Sub that keeps messages can pass. Features cannot turn those tests
// off, so, as GoChannel runs the suite in its Persistent mode, this runs it
// against NewReplaying (export_test.go): the same PubSub whose Subscribe
// also queues the topic's earlier messages. Queueing, ordering, ack, nack,
// context and Close are the production code paths.
var conformanceFeatures = tests.Features{
	ConsumerGroups:                      false,
	ExactlyOnceDelivery:                 true,
	GuaranteedOrder:                     true,
	GuaranteedOrderWithSingleSubscriber: true,
	Persistent:                          false,
	RequireSingleInstance:               true,
	NewSubscriberReceivesOldMessages:    false,
	ContextPreserved:                    false,
}

// conformanceQueueSize exceeds the most messages one suite test queues
// for one subscriber (5000 in TestConcurrentSubscribe).
const conformanceQueueSize = 10_000

func TestConformance(t *testing.T) {
	tests.TestPubSub(t, conformanceFeatures,
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			p := inproc.NewReplaying(inproc.Config{QueueSize: conformanceQueueSize})
			return p, p
		}, nil)
}

// TestConformanceLive runs, on the plain (non-replaying) PubSub, the one
// suite test that subscribes before it publishes.
func TestConformanceLive(t *testing.T) {
	p := inproc.New(inproc.Config{QueueSize: conformanceQueueSize})
	tests.TestMessageCtx(t, tests.TestContext{TestID: tests.NewTestID(), Features: conformanceFeatures},
		func(t *testing.T) (message.Publisher, message.Subscriber) { return p, p })
}
