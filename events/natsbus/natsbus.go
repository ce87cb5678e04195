// Package natsbus is a Watermill Pub/Sub over core NATS, the bus of
// cluster mode (events.Bus): an execution's owner publishes each event
// once JetStream has acknowledged it, and a subscriber on any node gets it.
//
// It is a few dozen lines over nats.go rather than watermill-nats because
// the bus needs the payload carried byte for byte (the stored event, framed
// as is by every subscriber) and the metadata as NATS headers, with no
// marshaler, no generated UUID and no JetStream: here a message's payload
// is the NATS message's data, each metadata key a header, and the
// message's own UUID (events.Bus sets <execution>/<seq>) the UUIDHeader
// header when it is not empty.
//
// Metadata that a NATS header cannot carry unchanged is refused by Publish
// (ErrBadMetadata) rather than sent altered or refused half-way: a key
// must be a non-empty run of printable ASCII without ':' and the few
// other bytes nats.go refuses, and a value must not hold a line break or
// start or end with a space or tab (nats.go replaces and trims those).
//
// Core NATS keeps the order of one publisher's messages to one subscriber
// but may drop messages (a slow consumer, a reconnect): events.Follow
// covers a gap by reading the store (a seq jump) and, on a bus made with
// events.Bus.WithIdleCheck, a lost last event by reading it when idle.
// There is no acknowledgement: Ack and Nack of a delivered message do
// nothing, and nothing is delivered again.
package natsbus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// Prefix is the first token of the bus's subjects: weft.live.<topic>.
const Prefix = "weft.live."

// QueueSize bounds the messages one subscriber holds by default; past it
// new ones are dropped (the follower reads the store for them).
const QueueSize = 1024

// UUIDHeader carries a message's UUID; it is not a metadata key.
const UUIDHeader = "Watermill-Uuid"

// PubSub publishes and subscribes on one NATS connection, which stays the
// caller's.
type PubSub struct {
	nc        *nats.Conn
	queueSize int
	dropped   atomic.Uint64
	watchers  sync.WaitGroup // one per live subscription; Close waits

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}
}

// Option changes a PubSub made by New.
type Option func(*PubSub)

// WithQueueSize sets how many messages one subscriber holds (QueueSize
// by default) before new ones are dropped.
func WithQueueSize(n int) Option {
	return func(ps *PubSub) { ps.queueSize = max(n, 1) }
}

// New returns a Pub/Sub on nc.
func New(nc *nats.Conn, opts ...Option) *PubSub {
	ps := &PubSub{nc: nc, queueSize: QueueSize, subs: map[*subscription]struct{}{}}
	for _, o := range opts {
		o(ps)
	}
	return ps
}

// Dropped is how many messages subscribers have lost so far because their
// queue was full.
func (ps *PubSub) Dropped() uint64 { return ps.dropped.Load() }

// Subject is the NATS subject of a Watermill topic: each dot-separated
// part kept when it is a plain token, else "=" and its URL-safe base64.
func Subject(topic string) string {
	parts := strings.Split(topic, ".")
	for i, p := range parts {
		if !plain(p) {
			parts[i] = "=" + base64.RawURLEncoding.EncodeToString([]byte(p))
		}
	}
	return Prefix + strings.Join(parts, ".")
}

func plain(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ErrClosed is Publish's and Subscribe's error after Close.
var ErrClosed = errors.New("natsbus: closed")

// ErrBadMetadata refuses a message whose metadata a NATS header cannot
// carry unchanged.
var ErrBadMetadata = errors.New("natsbus: metadata a NATS header cannot carry")

// Publish sends msgs on topic's subject, in order, without waiting. A
// message with bad metadata (ErrBadMetadata) is refused before any of
// msgs is sent.
func (ps *PubSub) Publish(topic string, msgs ...*message.Message) error {
	ps.mu.Lock()
	closed := ps.closed
	ps.mu.Unlock()
	if closed {
		return ErrClosed
	}
	subject := Subject(topic)
	out := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		nm, err := toNATS(subject, m)
		if err != nil {
			return err
		}
		out[i] = nm
	}
	for _, nm := range out {
		if err := ps.nc.PublishMsg(nm); err != nil {
			return fmt.Errorf("natsbus: publish on %s: %w", subject, err)
		}
	}
	return nil
}

// toNATS is m as a NATS message: the payload as is, the UUID and each
// metadata entry a header.
func toNATS(subject string, m *message.Message) (*nats.Msg, error) {
	nm := &nats.Msg{Subject: subject, Data: m.Payload, Header: nats.Header{}}
	if m.UUID != "" {
		if err := checkValue(m.UUID); err != nil {
			return nil, fmt.Errorf("%w: uuid: %v", ErrBadMetadata, err)
		}
		nm.Header.Set(UUIDHeader, m.UUID)
	}
	for k, v := range m.Metadata {
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrBadMetadata, k, err)
		}
		if err := checkValue(v); err != nil {
			return nil, fmt.Errorf("%w: value of %q: %v", ErrBadMetadata, k, err)
		}
		nm.Header.Set(k, v)
	}
	return nm, nil
}

// keyForbidden are the printable ASCII bytes nats.go refuses in a header
// key (ADR-4 forbids only ':'; nats.go a few more).
const keyForbidden = "\"()/,:;<=>?@[\\]{}"

// checkKey accepts what nats.go sends as a header key, byte for byte:
// printable ASCII but keyForbidden.
func checkKey(k string) error {
	if k == "" {
		return errors.New("empty")
	}
	if k == UUIDHeader {
		return errors.New("reserved for the UUID")
	}
	for _, c := range []byte(k) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(keyForbidden, c) >= 0 {
			return fmt.Errorf("byte %#x", c)
		}
	}
	return nil
}

// checkValue accepts what a NATS header line keeps as a value: no line
// break, and no space or tab at either end (the reader trims them).
func checkValue(v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return errors.New("line break")
	}
	if strings.Trim(v, " \t") != v {
		return errors.New("space or tab at an end")
	}
	return nil
}

// Subscribe delivers topic's messages until ctx ends or Close; then the
// channel closes.
func (ps *PubSub) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s := &subscription{out: make(chan *message.Message, ps.queueSize), stop: make(chan struct{}), dropped: &ps.dropped}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil, ErrClosed
	}
	sub, err := ps.nc.Subscribe(Subject(topic), s.deliver)
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe to %s: %w", topic, err)
	}
	s.sub = sub
	ps.subs[s] = struct{}{}
	ps.watchers.Add(1)
	// Owned by the subscription: ends with ctx or Close, which waits for it.
	go func() {
		defer ps.watchers.Done()
		select {
		case <-ctx.Done():
		case <-s.stop:
		}
		ps.mu.Lock()
		delete(ps.subs, s)
		ps.mu.Unlock()
		s.end()
	}()
	return s.out, nil
}

// Close ends every subscription and returns once their channels are
// closed. The NATS connection stays open.
func (ps *PubSub) Close() error {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return nil
	}
	ps.closed = true
	for s := range ps.subs {
		close(s.stop)
	}
	ps.mu.Unlock()
	ps.watchers.Wait()
	return nil
}

type subscription struct {
	sub     *nats.Subscription
	out     chan *message.Message
	stop    chan struct{} // closed by Close, under PubSub.mu, once: closed is set then
	dropped *atomic.Uint64

	mu    sync.Mutex
	ended bool
}

// deliver runs on the subscription's NATS goroutine, one message at a
// time: order is kept. A full queue drops the message.
func (s *subscription) deliver(nm *nats.Msg) {
	m := fromNATS(nm)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	select {
	case s.out <- m:
	default:
		s.dropped.Add(1)
	}
}

// fromNATS is the Watermill message of nm, which may come from any NATS
// client: the payload as is, the UUID header as the UUID, every other
// header's first value as metadata.
func fromNATS(nm *nats.Msg) *message.Message {
	m := message.NewMessage(nm.Header.Get(UUIDHeader), nm.Data)
	for k, vs := range nm.Header {
		if k != UUIDHeader && len(vs) > 0 {
			m.Metadata.Set(k, vs[0])
		}
	}
	return m
}

// end unsubscribes and closes the channel, after the last delivery.
func (s *subscription) end() {
	_ = s.sub.Unsubscribe()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	close(s.out)
}
