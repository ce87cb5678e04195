// Package natsbus is a Watermill Pub/Sub over core NATS, the bus of
// cluster mode (events.Bus): an execution's owner publishes each event
// once JetStream has acknowledged it, and a subscriber on any node gets it.
//
// It is a few dozen lines over nats.go rather than watermill-nats because
// the bus needs the payload carried byte for byte (the stored event, framed
// as is by every subscriber) and the metadata as NATS headers, with no
// marshaler, no UUID and no JetStream: here a message's payload is the NATS
// message's data and each metadata key a header.
//
// Core NATS keeps the order of one publisher's messages to one subscriber
// but may drop messages (a slow consumer, a reconnect): events.Follow
// covers a gap by reading the store (a seq jump) and, on a bus made with
// events.Bus.WithIdleCheck, a lost last event by reading it when idle.
package natsbus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// Prefix is the first token of the bus's subjects: weft.live.<topic>.
const Prefix = "weft.live."

// QueueSize bounds the messages one subscriber holds; past it new ones
// are dropped (the follower reads the store for them).
const QueueSize = 1024

// PubSub publishes and subscribes on one NATS connection, which stays the
// caller's.
type PubSub struct {
	nc *nats.Conn

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}
}

// New returns a Pub/Sub on nc.
func New(nc *nats.Conn) *PubSub {
	return &PubSub{nc: nc, subs: map[*subscription]struct{}{}}
}

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

// Publish sends msgs on topic's subject, in order, without waiting.
func (ps *PubSub) Publish(topic string, msgs ...*message.Message) error {
	ps.mu.Lock()
	closed := ps.closed
	ps.mu.Unlock()
	if closed {
		return ErrClosed
	}
	subject := Subject(topic)
	for _, m := range msgs {
		nm := &nats.Msg{Subject: subject, Data: m.Payload, Header: nats.Header{}}
		for k, v := range m.Metadata {
			nm.Header.Set(k, v)
		}
		if err := ps.nc.PublishMsg(nm); err != nil {
			return fmt.Errorf("natsbus: publish on %s: %w", subject, err)
		}
	}
	return nil
}

// Subscribe delivers topic's messages until ctx ends or Close; then the
// channel closes.
func (ps *PubSub) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s := &subscription{out: make(chan *message.Message, QueueSize), stop: make(chan struct{})}
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
	// Owned by the subscription: ends with ctx or Close.
	go func() {
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

// Close ends every subscription. The NATS connection stays open.
func (ps *PubSub) Close() error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil
	}
	ps.closed = true
	for s := range ps.subs {
		s.stopOnce.Do(func() { close(s.stop) })
	}
	return nil
}

type subscription struct {
	sub      *nats.Subscription
	out      chan *message.Message
	stop     chan struct{}
	stopOnce sync.Once

	mu    sync.Mutex
	ended bool
}

// deliver runs on the subscription's NATS goroutine, one message at a
// time: order is kept. A full queue drops the message.
func (s *subscription) deliver(nm *nats.Msg) {
	m := message.NewMessage("", nm.Data)
	for k := range nm.Header {
		m.Metadata.Set(k, nm.Header.Get(k))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	select {
	case s.out <- m:
	default:
	}
}

// end unsubscribes and closes the channel, after the last delivery.
func (s *subscription) end() {
	_ = s.sub.Unsubscribe()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	close(s.out)
}
