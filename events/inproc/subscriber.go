package inproc

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// envelope is one published message as queued for subscribers: a snapshot
// taken by Publish and shared, read-only, by every subscriber's queue. Each
// delivery builds its own *message.Message from it, because Ack and Nack
// state (and a nacked message's replacement) are per delivery.
type envelope struct {
	uuid     string
	metadata message.Metadata // nil when empty; never modified
	payload  message.Payload  // shared with the publisher: read-only
}

// envelopes snapshots msgs in two allocations, whatever their number.
func envelopes(msgs []*message.Message) []*envelope {
	vals := make([]envelope, len(msgs))
	ptrs := make([]*envelope, len(msgs))
	for i, m := range msgs {
		vals[i] = envelope{uuid: m.UUID, payload: m.Payload}
		if len(m.Metadata) > 0 {
			vals[i].metadata = maps.Clone(m.Metadata)
		}
		ptrs[i] = &vals[i]
	}
	return ptrs
}

// message returns a fresh message for one delivery attempt. Metadata is
// copied because a consumer may write to it; the payload is shared.
func (e *envelope) message(ctx context.Context) *message.Message {
	m := message.NewMessage(e.uuid, e.payload)
	for k, v := range e.metadata {
		m.Metadata[k] = v
	}
	m.SetContext(ctx)
	return m
}

func newMarker(dropped int) *envelope {
	return &envelope{
		uuid: watermill.NewUUID(),
		metadata: message.Metadata{
			OverflowMetadataKey: "true",
			DroppedMetadataKey:  strconv.Itoa(dropped),
		},
	}
}

// subscriber is one subscription: a bounded queue and, only while the queue
// is not empty (or a marker is due), one delivery goroutine draining it.
type subscriber struct {
	ps      *PubSub
	ctx     context.Context
	topic   string
	out     chan *message.Message
	release func() bool // stops the AfterFunc registered on ctx

	mu sync.Mutex
	// queue holds what is still to be acked, in publish order; its head is
	// the message being delivered, so it counts against the bound too.
	queue      ring
	running    bool // a delivery goroutine exists; only it may send on out
	stopped    bool // ctx ended or Close; out is closed or about to be
	overflowed bool // messages were dropped; a marker is due
	dropped    int  // dropped since the last marker
}

func newSubscriber(ps *PubSub, ctx context.Context, topic string) *subscriber {
	return &subscriber{ps: ps, ctx: ctx, topic: topic, out: make(chan *message.Message)}
}

// enqueue appends envs to the queue, as many as fit, and starts the
// delivery goroutine if none runs. It never blocks on the consumer.
func (s *subscriber) enqueue(envs []*envelope) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	firstDrop := s.accept(envs)
	start := !s.running && s.queue.len() > 0
	if start {
		s.running = true
		// Under s.mu and before stop: Close's Wait cannot miss it.
		s.ps.delivering.Add(1)
	}
	s.mu.Unlock()

	if start {
		go s.run()
	}
	if firstDrop {
		s.ps.cfg.Logger.Info("inproc subscriber fell behind: dropping its messages until it takes an overflow marker",
			watermill.LogFields{"topic": s.topic, "queue_size": s.ps.cfg.QueueSize})
	}
}

// accept queues what fits of envs and drops the rest, reporting whether
// this starts an overflow. Once overflowed, everything is dropped until the
// marker is created, so that every dropped message precedes its marker.
func (s *subscriber) accept(envs []*envelope) (firstDrop bool) {
	fit := 0
	if !s.overflowed {
		fit = min(len(envs), s.ps.cfg.QueueSize-s.queue.len())
	}
	for _, e := range envs[:fit] {
		s.queue.push(e, s.ps.cfg.QueueSize)
	}
	if fit == len(envs) {
		return false
	}
	firstDrop = !s.overflowed
	s.overflowed = true
	s.dropped += len(envs) - fit
	return firstDrop
}

// stop ends the subscription: queued messages are discarded and out is
// closed, by stop itself when no delivery goroutine runs, else by that
// goroutine as it exits (it alone may send on out). Idempotent.
func (s *subscriber) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	s.queue = ring{}
	if !s.running {
		close(s.out)
	}
}

// run is the delivery goroutine: it sends the queue's head, waits for its
// ack (a nack resends it), pops it, and so on until the queue is empty.
func (s *subscriber) run() {
	defer s.ps.delivering.Done()
	pop := false
	for {
		env, queued, ok := s.next(pop)
		if !ok {
			return
		}
		if !s.deliver(env) {
			s.halt()
			return
		}
		pop = queued
	}
}

// next pops the acked head if pop, then returns what to deliver: the new
// head, else the overflow marker if one is due (queued false). When there
// is nothing, the goroutine ends: running is cleared under the same lock
// that enqueue checks, so a message queued meanwhile starts a new one.
func (s *subscriber) next(pop bool) (env *envelope, queued, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		s.running = false
		close(s.out) // stop left it to us
		return nil, false, false
	}
	if pop {
		s.queue.pop()
	}
	if e := s.queue.peek(); e != nil {
		return e, true, true
	}
	if s.overflowed {
		// The queue is empty, so the mark clears here, under the lock:
		// every message dropped so far was published before this marker,
		// and everything published from now on is queued again.
		m := newMarker(s.dropped)
		s.overflowed, s.dropped = false, 0
		return m, false, true
	}
	s.running = false
	s.queue.shrink()
	return nil, false, false
}

// halt ends the delivery goroutine when ctx ended or the PubSub closed,
// possibly before stop ran: whichever comes first marks s stopped, and out
// is closed here because this goroutine was running.
func (s *subscriber) halt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.queue = ring{}
	s.running = false
	close(s.out)
}

// deliver sends env until it is acked (true) or the subscription ends
// (false). Each attempt is a new message whose context is cancelled once
// the attempt is over.
func (s *subscriber) deliver(env *envelope) bool {
	for {
		ctx, cancel := context.WithCancel(s.ctx)
		acked, ok := s.attempt(env.message(ctx))
		cancel()
		if !ok {
			return false
		}
		if acked {
			return true
		}
		if !s.wait(s.ps.cfg.NackResendSleep) {
			return false
		}
	}
}

// attempt sends msg and waits for its ack or nack. ok is false when the
// subscription ended first.
func (s *subscriber) attempt(msg *message.Message) (acked, ok bool) {
	// A ready consumer must not win the race against an ended ctx: select
	// picks randomly among ready cases.
	if s.ended() {
		return false, false
	}
	select {
	case s.out <- msg:
	case <-s.ctx.Done():
		return false, false
	case <-s.ps.closing:
		return false, false
	}
	select {
	case <-msg.Acked():
		return true, true
	case <-msg.Nacked():
		return false, true
	case <-s.ctx.Done():
		return false, false
	case <-s.ps.closing:
		return false, false
	}
}

func (s *subscriber) ended() bool {
	select {
	case <-s.ctx.Done():
		return true
	case <-s.ps.closing:
		return true
	default:
		return false
	}
}

// wait sleeps d unless the subscription ends first (false).
func (s *subscriber) wait(d time.Duration) bool {
	if d <= 0 {
		return !s.ended()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	case <-s.ps.closing:
		return false
	}
}
