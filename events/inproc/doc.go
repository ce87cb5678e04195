// Package inproc is weft's embedded event bus: an in-process Watermill
// Pub/Sub (message.Publisher and message.Subscriber) that keeps publish
// order per topic and subscriber, never makes a publisher wait for a
// subscriber, and costs an idle subscription no goroutine.
//
// weft publishes each execution's events on the execution's own topic; the
// payload is the event's stored JSON, shared by every subscriber, never
// copied or re-encoded. Payloads are therefore read-only, for the publisher
// after Publish as for every subscriber.
//
// # Why not GoChannel
//
// Watermill's GoChannel starts a goroutine per message and subscriber, so
// messages overtake each other, and a subscriber that does not ack holds
// those goroutines (and, with BlockPublishUntilSubscriberAck, the
// publisher) indefinitely. It also keeps a goroutine per subscription
// waiting for its context. Here each subscriber has its own bounded queue,
// and one goroutine drains it, existing only while the queue is not empty.
//
// # Ordering
//
// A subscriber receives a topic's messages in the order they were
// published: Publish calls that follow one another on a topic (the second
// starts after the first returned), and the messages within one call. For
// Publish calls that run concurrently on one topic there is no publish
// order; each subscriber still receives every call's messages in order,
// but two subscribers may see the calls interleaved differently.
//
// Delivery is one message at a time: the next is sent after the previous
// is acked. A nacked message is sent again (after Config.NackResendSleep)
// as a new *message.Message with the same UUID, metadata and payload, and
// nothing after it is sent before it is acked. A subscriber receives the
// messages of Publish calls that start after its Subscribe call returned
// (one running concurrently with Subscribe may or may not reach it), and
// no history.
//
// # Overflow
//
// A subscriber holds at most Config.QueueSize messages: the one being
// delivered plus those waiting. A message that finds the queue full is
// dropped for that subscriber alone and marks it overflowed; from then on
// every message for it is dropped until the marker is created. Once the
// subscriber has acked everything queued before the overflow, it receives
// one overflow marker: a message with metadata OverflowMetadataKey = "true"
// (test it with Overflowed), DroppedMetadataKey = the number dropped, and
// an empty payload. The marker is created at that moment, the mark is
// cleared, and messages published from then on are queued again.
//
// The guarantee: every message dropped for a subscriber was published
// before the marker that follows it was created. So a consumer that gets a
// marker has missed messages since the last one it received, and nothing
// published later: it re-reads the source of truth (weft's store) from its
// last position, acks the marker, and carries on with the messages that
// follow it, skipping those the re-read already covered. Between two
// markers a subscriber receives at least QueueSize messages.
//
// # Cost
//
// An idle subscription is a small struct, an unbuffered channel, an entry
// in the topic map and a callback on its context: about 500 bytes and no
// goroutine (TestIdleSubscriptionCost measures 10,000 of them; GoChannel's
// cost about 5 KB and a goroutine each). That holds for contexts made by
// package context; for a foreign Context implementation, context.AfterFunc
// spends a goroutine per subscription. Its queue starts without a buffer
// and grows on demand up to QueueSize pointers; the envelope of a message
// is shared by all subscribers of its topic. Publishing to a topic without
// subscribers is one read-locked map lookup and allocates nothing.
package inproc
