// Package events is the vocabulary of what happens to an execution: the
// event types and details of PROTOCOL.md section 5, their stored form, and
// the Bus that carries them from execution actors to subscribers.
//
// An event is encoded once (Encode), when its execution actor appends it,
// into the bytes the store keeps (Stored). The bus publishes those bytes as
// the message payload, and a subscriber's frame is those bytes with its
// request id spliced in (Stored.FrameInto): nothing is encoded or decoded
// per subscriber.
//
// The bus keeps publish order per topic and subscriber (the embedded
// inproc.PubSub does; so does NATS JetStream per subject), so Follow hands
// over from the store to live delivery by seq alone: no gap timer, no
// reordering, no polling. A subscriber that falls behind is told so by the
// bus and re-reads the store, which is the truth.
package events
