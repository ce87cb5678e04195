package inproc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// DefaultQueueSize is the per-subscriber bound used when Config.QueueSize is
// not positive.
const DefaultQueueSize = 4096

// OverflowMetadataKey is the metadata key of the overflow marker: a message
// with this key set to "true" and an empty payload, sent to a subscriber
// after messages were dropped for it. See Overflowed.
const OverflowMetadataKey = "inproc_overflow"

// DroppedMetadataKey is set on the overflow marker to the number of messages
// dropped for the subscriber since its previous marker (decimal). It is for
// logs and metrics; consumers must not rely on it to recover.
const DroppedMetadataKey = "inproc_dropped"

// ErrClosed is returned (wrapped) by Publish and Subscribe after Close.
var ErrClosed = errors.New("inproc: pub/sub closed")

// Overflowed reports whether msg is an overflow marker: messages of its
// topic were dropped for this subscriber, all of them published before the
// marker was created. The consumer should re-read its source of truth from
// its last position, Ack the marker, and continue.
func Overflowed(msg *message.Message) bool {
	return msg.Metadata.Get(OverflowMetadataKey) == "true"
}

// Config configures a PubSub. The zero value is usable.
type Config struct {
	// QueueSize bounds, in messages, what is held for one subscriber: the
	// message being delivered (sent, not yet acked) plus those waiting.
	// Messages that find the queue full are dropped for that subscriber
	// only, and it later gets an overflow marker. Default DefaultQueueSize.
	QueueSize int

	// Logger receives overflow notices and debug output. Default: none.
	Logger watermill.LoggerAdapter

	// NackResendSleep is how long a subscriber's delivery waits before
	// resending a message it nacked. Default 0: resend at once, as
	// Watermill's GoChannel does.
	NackResendSleep time.Duration
}

func (c Config) withDefaults() Config {
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
	if c.NackResendSleep < 0 {
		c.NackResendSleep = 0
	}
	return c
}

// PubSub is the in-process, ordered Watermill Pub/Sub. Use one value for
// both publishing and subscribing; it is safe for concurrent use.
type PubSub struct {
	cfg Config

	// mu guards topics and closed. Publish only read-locks it. A topic's
	// slice is never written below its length once stored, so a publisher
	// may range over a slice it read under the lock after releasing it:
	// Subscribe appends (writing past every published length) and
	// unsubscribe stores a fresh copy.
	mu     sync.RWMutex
	topics map[string][]*subscriber
	closed bool

	// replay is set only by the test-only constructor in export_test.go:
	// history then keeps every message published, per topic, and queues it
	// to each new subscriber, which Watermill's conformance suite needs.
	replay  bool
	history map[string][]*envelope

	// closing is closed by Close; delivery goroutines select on it, so a
	// subscription needs no channel of its own to be stopped.
	closing   chan struct{}
	closeOnce sync.Once
	// delivering counts running delivery goroutines, for Close to wait.
	delivering sync.WaitGroup
}

var (
	_ message.Publisher  = (*PubSub)(nil)
	_ message.Subscriber = (*PubSub)(nil)
)

// New returns an open PubSub.
func New(cfg Config) *PubSub {
	return &PubSub{
		cfg:     cfg.withDefaults(),
		topics:  make(map[string][]*subscriber),
		closing: make(chan struct{}),
	}
}

// Publish queues msgs, in order, for every current subscriber of topic and
// returns without waiting for any of them. A subscriber whose queue is full
// misses the messages that do not fit and later gets an overflow marker.
// Publishing to a topic nobody subscribes to is a map lookup.
//
// The payloads are shared, not copied, between all subscribers: neither
// the publisher nor any subscriber may modify a payload after Publish.
// UUID and metadata are copied here, so msgs may be reused after Publish
// returns (their payload bytes excepted).
func (p *PubSub) Publish(topic string, msgs ...*message.Message) error {
	if p.replay {
		return p.publishReplaying(topic, msgs)
	}
	p.mu.RLock()
	closed, subs := p.closed, p.topics[topic]
	p.mu.RUnlock()
	if closed {
		return fmt.Errorf("publish to %q: %w", topic, ErrClosed)
	}
	if len(subs) == 0 || len(msgs) == 0 {
		return nil
	}
	envs := envelopes(msgs)
	for _, s := range subs {
		s.enqueue(envs)
	}
	return nil
}

// publishReplaying is Publish in the test-only replaying mode. It holds the
// write lock so that a concurrent Subscribe sees each message either in the
// history or live, never both nor neither.
func (p *PubSub) publishReplaying(topic string, msgs []*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("publish to %q: %w", topic, ErrClosed)
	}
	envs := envelopes(msgs)
	p.history[topic] = append(p.history[topic], envs...)
	for _, s := range p.topics[topic] {
		s.enqueue(envs)
	}
	return nil
}

// Subscribe returns an unbuffered channel that delivers topic's messages
// published from now on, in publish order, one at a time: the next message
// is sent only after the previous one is acked; a nacked message is sent
// again (as a new *message.Message). The channel is closed when ctx ends or
// the PubSub closes; messages still queued for it are then discarded.
//
// Each delivered message's context derives from ctx and is cancelled once
// the message is acked or nacked. A message with Overflowed(msg) true is
// the overflow marker (see the package documentation); it must be acked
// like any other.
//
// An idle subscription holds no goroutine: one runs only while messages
// are queued for it.
func (p *PubSub) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s := newSubscriber(p, ctx, topic)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("subscribe to %q: %w", topic, ErrClosed)
	}
	p.topics[topic] = append(p.topics[topic], s)
	// Registered under p.mu, so Close sees release set, and an unsubscribe
	// fired at once (ctx already done) finds s in the map: AfterFunc runs
	// the callback in its own goroutine, which waits for p.mu.
	s.release = context.AfterFunc(ctx, func() { p.unsubscribe(s) })
	if h := p.history[topic]; len(h) > 0 {
		s.enqueue(h)
	}
	return s.out, nil
}

// unsubscribe stops s and forgets it. It runs once s's context is done.
func (p *PubSub) unsubscribe(s *subscriber) {
	s.stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	subs := p.topics[s.topic]
	i := indexOf(subs, s)
	if i < 0 {
		return // Close already forgot every subscriber
	}
	if len(subs) == 1 {
		// Topics are per execution: without this the map would keep one
		// entry for every execution ever followed.
		delete(p.topics, s.topic)
		return
	}
	// A fresh slice: publishers may still range over the old one.
	rest := make([]*subscriber, 0, len(subs)-1)
	rest = append(rest, subs[:i]...)
	p.topics[s.topic] = append(rest, subs[i+1:]...)
}

func indexOf(subs []*subscriber, s *subscriber) int {
	for i, x := range subs {
		if x == s {
			return i
		}
	}
	return -1
}

// HasSubscribers reports whether topic has at least one subscriber, so that
// a caller can skip building messages nobody would receive.
func (p *PubSub) HasSubscribers(topic string) bool {
	return p.SubscriberCount(topic) > 0
}

// SubscriberCount returns the number of subscribers of topic. A
// subscription whose context just ended may still be counted for a moment:
// it is removed by a callback of that context.
func (p *PubSub) SubscriberCount(topic string) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.topics[topic])
}

// Close stops every subscription, closes their channels and waits for the
// delivery goroutines to exit. Later Publish and Subscribe calls fail with
// ErrClosed. Close is idempotent; concurrent calls all wait for the first.
func (p *PubSub) Close() error {
	p.closeOnce.Do(p.close)
	return nil
}

func (p *PubSub) close() {
	p.mu.Lock()
	p.closed = true
	close(p.closing)
	var subs []*subscriber
	for _, ts := range p.topics {
		subs = append(subs, ts...)
	}
	p.topics = map[string][]*subscriber{}
	p.history = nil
	p.mu.Unlock()

	for _, s := range subs {
		s.release() // drop the callback from the subscriber's context
		s.stop()
	}
	// Every delivery goroutine was started under its subscriber's mutex
	// before stop, so none starts after this Wait begins.
	p.delivering.Wait()
	p.cfg.Logger.Debug("inproc pub/sub closed", watermill.LogFields{"subscribers": len(subs)})
}
