// Watermill's own Pub/Sub conformance suite (pubsub/tests) against
// natsbus on an embedded NATS server: the suite's tests that hold for core
// NATS, with the features it really has.

package natsbus_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/weft-run/weft/events/natsbus"
	"github.com/weft-run/weft/internal/natstest"
)

// conformanceFeatures describes natsbus to the suite honestly:
//
//   - ConsumerGroups false: every subscriber gets every message.
//   - ExactlyOnceDelivery false: core NATS delivers at most once; a full
//     queue drops. (It never duplicates: natsbus_test checks that, the
//     suite's reads deduplicate.)
//   - GuaranteedOrder false: one publisher's messages reach a subscriber in
//     order (TestPublishSubscribeInOrder runs below with the flag set for
//     it alone), but the suite's flag also means that the next message
//     waits for the previous one's Ack (TestNoAck), and natsbus has no
//     acknowledgement.
//   - Persistent false, NewSubscriberReceivesOldMessages false: a message
//     reaches only the subscriptions open when it is published.
//   - RequireSingleInstance true: messages published before Subscribe are
//     only in the instance's subscription opened by SubscribeInitialize
//     (see early).
//   - ContextPreserved false: a context does not cross the wire.
var conformanceFeatures = tests.Features{
	ConsumerGroups:                      false,
	ExactlyOnceDelivery:                 false,
	GuaranteedOrder:                     false,
	GuaranteedOrderWithSingleSubscriber: false,
	Persistent:                          false,
	RequireSingleInstance:               true,
	NewSubscriberReceivesOldMessages:    false,
	ContextPreserved:                    false,
}

// conformanceQueueSize exceeds the most messages one suite test publishes
// before it reads (10,000 in TestPublisherClose).
const conformanceQueueSize = 20_000

// TestConformance runs the suite's tests whose expectations core NATS can
// meet. tests.TestPubSub as a whole cannot pass, and Features cannot turn
// off the tests that fail for a reason natsbus does not pretend to cover:
//
//   - TestResendOnError, TestContinueAfterErrors: a Nack must deliver the
//     message again. natsbus has no redelivery (a follower reads the store).
//   - TestSubscribeCtx, TestConcurrentClose: a second subscription must get
//     messages published before it existed (persistence).
//   - TestMessageCtx: a message's context must end on Ack; natsbus
//     messages have no acknowledgement, their context is Background.
//   - TestNoAck (skipped with GuaranteedOrder false), TestContinueAfter-
//     SubscribeClose and TestNewSubscriberReceivesOldMessages (Persistent
//     false), TestConsumerGroups (none), TestReconnect (it restarts the
//     broker with an external command; TestReconnect in natsbus_test
//     restarts the embedded server).
func TestConformance(t *testing.T) {
	srv := natstest.Server(t)
	newPubSub := func(t *testing.T) (message.Publisher, message.Subscriber) {
		ps := newEarly(natsbus.New(natstest.Connect(t, srv.URL()), natsbus.WithQueueSize(conformanceQueueSize)))
		return ps, ps
	}
	ordered := conformanceFeatures
	ordered.GuaranteedOrder = true
	for _, tc := range []struct {
		name     string
		run      func(*testing.T, tests.TestContext, tests.PubSubConstructor)
		features tests.Features
	}{
		{"PublishSubscribe", tests.TestPublishSubscribe, conformanceFeatures},
		{"ConcurrentSubscribe", tests.TestConcurrentSubscribe, conformanceFeatures},
		{"ConcurrentSubscribeMultipleTopics", tests.TestConcurrentSubscribeMultipleTopics, conformanceFeatures},
		{"PublisherClose", tests.TestPublisherClose, conformanceFeatures},
		{"Topic", tests.TestTopic, conformanceFeatures},
		{"PublishSubscribeInOrder", tests.TestPublishSubscribeInOrder, ordered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, tests.TestContext{TestID: tests.NewTestID(), Features: tc.features}, newPubSub)
		})
	}
}

// early is natsbus with Watermill's SubscribeInitialize: the suite calls it
// before it publishes (as for Pub/Subs that need a subscription to exist
// first), and it opens the real subscription then; the next Subscribe of
// the topic returns that one. Everything else is natsbus's own path.
type early struct {
	*natsbus.PubSub

	mu   sync.Mutex
	subs map[string]earlySub
}

type earlySub struct {
	msgs   <-chan *message.Message
	cancel context.CancelFunc
}

var _ message.SubscribeInitializer = (*early)(nil)

func newEarly(ps *natsbus.PubSub) *early {
	return &early{PubSub: ps, subs: map[string]earlySub{}}
}

func (e *early) SubscribeInitialize(topic string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.subs[topic]; ok {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	msgs, err := e.PubSub.Subscribe(ctx, topic)
	if err != nil {
		cancel()
		return err
	}
	e.subs[topic] = earlySub{msgs: msgs, cancel: cancel}
	return nil
}

func (e *early) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	e.mu.Lock()
	s, ok := e.subs[topic]
	delete(e.subs, topic)
	e.mu.Unlock()
	if !ok {
		return e.PubSub.Subscribe(ctx, topic)
	}
	context.AfterFunc(ctx, s.cancel)
	return s.msgs, nil
}
