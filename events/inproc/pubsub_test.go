package inproc_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/weft-run/weft/events/inproc"
)

const waitLong = 5 * time.Second

func newMsg(seq int) *message.Message {
	m := message.NewMessage(strconv.Itoa(seq), fmt.Appendf(nil, `{"seq":%d}`, seq))
	m.Metadata.Set("seq", strconv.Itoa(seq))
	return m
}

func seqOf(t testing.TB, m *message.Message) int {
	t.Helper()
	n, err := strconv.Atoi(m.Metadata.Get("seq"))
	if err != nil {
		t.Fatalf("message %s without a seq: %v", m.UUID, err)
	}
	return n
}

func publish(t testing.TB, p *inproc.PubSub, topic string, seqs ...int) {
	t.Helper()
	for _, s := range seqs {
		if err := p.Publish(topic, newMsg(s)); err != nil {
			t.Fatalf("publish %d: %v", s, err)
		}
	}
}

func seqRange(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// recv returns the next message or fails the test after waitLong.
func recv(t testing.TB, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("channel closed, want a message")
		}
		return m
	case <-time.After(waitLong):
		t.Fatal("no message within", waitLong)
		return nil
	}
}

// expectNothing fails if a message arrives within d.
func expectNothing(t testing.TB, ch <-chan *message.Message, d time.Duration) {
	t.Helper()
	select {
	case m, ok := <-ch:
		if ok {
			t.Fatalf("unexpected message %s %v", m.UUID, m.Metadata)
		}
		t.Fatal("channel closed, want it open and quiet")
	case <-time.After(d):
	}
}

// expectClosed fails unless ch is closed within waitLong (skipping nothing:
// a message instead of the close is an error).
func expectClosed(t testing.TB, ch <-chan *message.Message) {
	t.Helper()
	select {
	case m, ok := <-ch:
		if ok {
			t.Fatalf("message %s, want the channel closed", m.UUID)
		}
	case <-time.After(waitLong):
		t.Fatal("channel not closed within", waitLong)
	}
}

// expectSeqs receives and acks want, in order.
func expectSeqs(t testing.TB, ch <-chan *message.Message, want []int) {
	t.Helper()
	for _, w := range want {
		m := recv(t, ch)
		if inproc.Overflowed(m) {
			t.Fatalf("overflow marker, want seq %d", w)
		}
		if got := seqOf(t, m); got != w {
			t.Fatalf("got seq %d, want %d", got, w)
		}
		m.Ack()
	}
}

func subscribe(t testing.TB, p *inproc.PubSub, ctx context.Context, topic string) <-chan *message.Message {
	t.Helper()
	ch, err := p.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting until", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOrderWithConcurrentPublishers(t *testing.T) {
	const topics, subsPerTopic, msgs = 8, 3, 1000
	p := inproc.New(inproc.Config{})
	defer p.Close()

	var consumers sync.WaitGroup
	for i := range topics {
		topic := fmt.Sprintf("t%d", i)
		for range subsPerTopic {
			ch := subscribe(t, p, t.Context(), topic)
			consumers.Go(func() { expectSeqs(t, ch, seqRange(1, msgs)) })
		}
	}
	var publishers sync.WaitGroup
	for i := range topics {
		topic := fmt.Sprintf("t%d", i)
		publishers.Go(func() {
			// Single messages and batches alike keep their order.
			for seq := 1; seq <= msgs; {
				n := min(1+seq%5, msgs-seq+1)
				batch := make([]*message.Message, n)
				for j := range batch {
					batch[j] = newMsg(seq + j)
				}
				if err := p.Publish(topic, batch...); err != nil {
					t.Error(err)
					return
				}
				seq += n
			}
		})
	}
	publishers.Wait()
	consumers.Wait()
}

func TestSlowSubscriberIsolated(t *testing.T) {
	const msgs = 1000
	p := inproc.New(inproc.Config{QueueSize: 16})
	defer p.Close()

	slow := subscribe(t, p, t.Context(), "topic")
	fast := subscribe(t, p, t.Context(), "topic")

	// Published in steps of at most the queue size, each step waiting for
	// the fast subscriber only: the slow one, which never reads, neither
	// delays it nor blocks Publish.
	published := make(chan struct{})
	go func() {
		defer close(published)
		for seq := 1; seq <= msgs; seq += 8 {
			publish(t, p, "topic", seqRange(seq, seq+7)...)
			expectSeqs(t, fast, seqRange(seq, seq+7))
		}
	}()
	select {
	case <-published:
	case <-time.After(waitLong):
		t.Fatal("publishing and the fast subscriber were held up")
	}
	m := recv(t, slow)
	if seqOf(t, m) != 1 {
		t.Fatalf("slow subscriber got seq %d first, want 1", seqOf(t, m))
	}
}

func TestPublishNeverBlocks(t *testing.T) {
	p := inproc.New(inproc.Config{QueueSize: 4})
	defer p.Close()
	for range 100 {
		subscribe(t, p, t.Context(), "topic") // nobody ever reads
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		publish(t, p, "topic", seqRange(1, 10000)...)
	}()
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Fatal("Publish blocked on stalled subscribers")
	}
}

func TestOverflowMarker(t *testing.T) {
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			p := inproc.New(inproc.Config{QueueSize: 8})
			defer p.Close()
			ch := subscribe(t, p, t.Context(), "topic")

			// Nobody reads while 100 are published: 8 fit (the one being
			// delivered counts), 92 are dropped.
			if batched {
				msgs := make([]*message.Message, 100)
				for i := range msgs {
					msgs[i] = newMsg(i + 1)
				}
				if err := p.Publish("topic", msgs...); err != nil {
					t.Fatal(err)
				}
			} else {
				publish(t, p, "topic", seqRange(1, 100)...)
			}

			expectSeqs(t, ch, seqRange(1, 8))
			marker := recv(t, ch)
			if !inproc.Overflowed(marker) {
				t.Fatalf("got seq %s, want the overflow marker", marker.Metadata.Get("seq"))
			}
			if len(marker.Payload) != 0 {
				t.Fatalf("marker payload %q, want empty", marker.Payload)
			}
			if got := marker.Metadata.Get(inproc.DroppedMetadataKey); got != "92" {
				t.Fatalf("marker says %s dropped, want 92", got)
			}
			marker.Ack()
			expectNothing(t, ch, 20*time.Millisecond)

			// Later messages are queued again (8 of them fit the queue).
			publish(t, p, "topic", seqRange(101, 108)...)
			expectSeqs(t, ch, seqRange(101, 108))
			expectNothing(t, ch, 20*time.Millisecond)
		})
	}
}

func TestOverflowDropsUntilMarker(t *testing.T) {
	p := inproc.New(inproc.Config{QueueSize: 2})
	defer p.Close()
	ch := subscribe(t, p, t.Context(), "topic")

	publish(t, p, "topic", 1, 2, 3) // 3 dropped: overflowed
	expectSeqs(t, ch, []int{1})
	// There is room again, but the marker is not out yet: 4 was published
	// before it, so it is dropped too rather than arrive after a gap.
	publish(t, p, "topic", 4)
	expectSeqs(t, ch, []int{2})
	if m := recv(t, ch); !inproc.Overflowed(m) {
		t.Fatalf("got seq %d, want the marker", seqOf(t, m))
	} else {
		// Published while the marker waits for its ack: after the marker.
		publish(t, p, "topic", 5)
		m.Ack()
	}
	expectSeqs(t, ch, []int{5})
}

func TestNackRedelivers(t *testing.T) {
	p := inproc.New(inproc.Config{})
	defer p.Close()
	ch := subscribe(t, p, t.Context(), "topic")
	publish(t, p, "topic", 1, 2)

	first := recv(t, ch)
	first.Nack()
	again := recv(t, ch)
	if again == first {
		t.Fatal("redelivered the nacked *Message itself; want a fresh one")
	}
	if again.UUID != first.UUID || seqOf(t, again) != 1 {
		t.Fatalf("after nack got %s, want %s again", again.UUID, first.UUID)
	}
	if string(again.Payload) != string(first.Payload) {
		t.Fatal("redelivered payload differs")
	}
	again.Ack()
	expectSeqs(t, ch, []int{2})
}

func TestNackResendSleep(t *testing.T) {
	const sleep = 50 * time.Millisecond
	p := inproc.New(inproc.Config{NackResendSleep: sleep})
	defer p.Close()
	ch := subscribe(t, p, t.Context(), "topic")
	publish(t, p, "topic", 1)

	recv(t, ch).Nack()
	start := time.Now()
	m := recv(t, ch)
	if d := time.Since(start); d < sleep {
		t.Fatalf("resent after %v, want at least %v", d, sleep)
	}
	m.Ack()
}

func TestMessageContext(t *testing.T) {
	p := inproc.New(inproc.Config{})
	defer p.Close()
	ctx := context.WithValue(t.Context(), ctxKey{}, "sub")
	ch := subscribe(t, p, ctx, "topic")
	publish(t, p, "topic", 1)

	m := recv(t, ch)
	if m.Context().Value(ctxKey{}) != "sub" {
		t.Fatal("message context does not derive from the Subscribe context")
	}
	if m.Context().Err() != nil {
		t.Fatal("message context done before ack")
	}
	m.Ack()
	select {
	case <-m.Context().Done():
	case <-time.After(waitLong):
		t.Fatal("message context not cancelled after ack")
	}
}

type ctxKey struct{}

func TestContextCancelClosesChannel(t *testing.T) {
	p := inproc.New(inproc.Config{})
	defer p.Close()

	t.Run("idle", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		ch := subscribe(t, p, ctx, "idle")
		cancel()
		expectClosed(t, ch)
		eventually(t, "the subscriber is forgotten", func() bool { return !p.HasSubscribers("idle") })
	})
	t.Run("delivering", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		ch := subscribe(t, p, ctx, "busy")
		publish(t, p, "busy", seqRange(1, 10)...)
		m := recv(t, ch) // in flight, never acked
		cancel()
		select {
		case <-m.Context().Done():
		case <-time.After(waitLong):
			t.Fatal("in-flight message context not cancelled")
		}
		expectClosed(t, ch)
		eventually(t, "the subscriber is forgotten", func() bool { return !p.HasSubscribers("busy") })
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		ch := subscribe(t, p, ctx, "dead")
		publish(t, p, "dead", 1)
		expectClosed(t, ch)
		eventually(t, "the subscriber is forgotten", func() bool { return !p.HasSubscribers("dead") })
	})
}

func TestCloseClosesAll(t *testing.T) {
	p := inproc.New(inproc.Config{})
	idle := subscribe(t, p, t.Context(), "a")
	busy := subscribe(t, p, t.Context(), "b")
	queued := subscribe(t, p, t.Context(), "b")
	publish(t, p, "b", 1, 2, 3)
	m := recv(t, busy) // in flight; queued has one waiting to be sent

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waited for the delivery goroutines: every channel is closed now.
	for i, ch := range []<-chan *message.Message{idle, busy, queued} {
		select {
		case _, ok := <-ch:
			if ok {
				t.Fatalf("channel %d delivered after Close", i)
			}
		default:
			t.Fatalf("channel %d not closed when Close returned", i)
		}
	}
	if m.Context().Err() == nil {
		t.Fatal("in-flight message context not cancelled by Close")
	}
	if err := p.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := p.Publish("a", newMsg(4)); !errors.Is(err, inproc.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := p.Subscribe(t.Context(), "a"); !errors.Is(err, inproc.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if p.HasSubscribers("a") || p.SubscriberCount("b") != 0 {
		t.Fatal("subscribers counted after Close")
	}
}

func TestConcurrentClose(t *testing.T) {
	p := inproc.New(inproc.Config{})
	for i := range 50 {
		ch := subscribe(t, p, t.Context(), "topic")
		if i%2 == 0 {
			go func() {
				for m := range ch {
					m.Ack()
				}
			}()
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := range 50 {
			_ = p.Publish("topic", newMsg(seq)) // ErrClosed once closed
		}
	})
	for range 4 {
		wg.Go(func() {
			if err := p.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestSubscriberCount(t *testing.T) {
	p := inproc.New(inproc.Config{})
	defer p.Close()
	if p.HasSubscribers("t") || p.SubscriberCount("t") != 0 {
		t.Fatal("fresh topic has subscribers")
	}
	if err := p.Publish("t", newMsg(1)); err != nil {
		t.Fatal("publish without subscribers:", err)
	}
	ctx1, cancel1 := context.WithCancel(t.Context())
	ctx2, cancel2 := context.WithCancel(t.Context())
	subscribe(t, p, ctx1, "t")
	subscribe(t, p, ctx2, "t")
	subscribe(t, p, t.Context(), "other")
	if !p.HasSubscribers("t") || p.SubscriberCount("t") != 2 || p.SubscriberCount("other") != 1 {
		t.Fatalf("counts t=%d other=%d, want 2 and 1", p.SubscriberCount("t"), p.SubscriberCount("other"))
	}
	cancel1()
	eventually(t, "one subscriber left", func() bool { return p.SubscriberCount("t") == 1 })
	cancel2()
	eventually(t, "none left", func() bool { return !p.HasSubscribers("t") })
}

func TestPayloadSharedMetadataCopied(t *testing.T) {
	p := inproc.New(inproc.Config{})
	defer p.Close()
	a := subscribe(t, p, t.Context(), "topic")
	b := subscribe(t, p, t.Context(), "topic")

	msg := newMsg(1)
	msg.Metadata.Set("k", "v")
	if err := p.Publish("topic", msg); err != nil {
		t.Fatal(err)
	}
	msg.Metadata.Set("k", "changed after Publish")

	ma, mb := recv(t, a), recv(t, b)
	if &ma.Payload[0] != &msg.Payload[0] || &mb.Payload[0] != &msg.Payload[0] {
		t.Fatal("payload was copied; want the published slice shared")
	}
	ma.Metadata.Set("k", "changed by a")
	if mb.Metadata.Get("k") != "v" {
		t.Fatalf("b sees metadata %q, want v", mb.Metadata.Get("k"))
	}
	ma.Ack()
	mb.Ack()
}

func TestDeliveryGoroutineOnlyWhileBusy(t *testing.T) {
	p := inproc.New(inproc.Config{})
	defer p.Close()
	ch := subscribe(t, p, t.Context(), "topic")
	if !p.Quiescent() {
		t.Fatal("idle subscriber has a delivery goroutine")
	}
	publish(t, p, "topic", 1, 2)
	if p.Quiescent() {
		t.Fatal("no delivery goroutine while messages are queued")
	}
	expectSeqs(t, ch, []int{1, 2})
	eventually(t, "the delivery goroutine exits", p.Quiescent)
	// And starts again for the next message.
	publish(t, p, "topic", 3)
	expectSeqs(t, ch, []int{3})
}

func TestOverflowedHelper(t *testing.T) {
	m := message.NewMessage("x", nil)
	if inproc.Overflowed(m) {
		t.Fatal("plain message reported as marker")
	}
	m.Metadata.Set(inproc.OverflowMetadataKey, "true")
	if !inproc.Overflowed(m) {
		t.Fatal("marker not recognised")
	}
}

// TestIdleSubscriptionCost keeps an idle subscription cheap: no goroutine
// and well under 8 KB (heap plus stacks) each.
func TestIdleSubscriptionCost(t *testing.T) {
	const n = 10_000
	bytes, goroutines := idleCost(t, newInproc, n)
	t.Logf("%d idle subscriptions: %.0f B and %.3f goroutines per subscription", n, bytes, goroutines)
	if goroutines != 0 {
		t.Errorf("idle subscriptions hold %.3f goroutines each, want 0", goroutines)
	}
	if bytes >= 8<<10 {
		t.Errorf("an idle subscription costs %.0f B, want well under 8 KB", bytes)
	}
}
