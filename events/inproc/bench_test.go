package inproc_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/weft-run/weft/events/inproc"
)

// Run: go test -run '^$' -bench . -benchtime 2s ./events/inproc/

func newInproc() (message.Publisher, message.Subscriber) {
	p := inproc.New(inproc.Config{})
	return p, p
}

func newGoChannel() (message.Publisher, message.Subscriber) {
	g := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 256}, watermill.NopLogger{})
	return g, g
}

func BenchmarkPublish1Subscriber(b *testing.B) {
	benchFanOut(b, newInproc, 1, 256)
}

func BenchmarkPublish1000Subscribers(b *testing.B) {
	benchFanOut(b, newInproc, 1000, 32)
}

func BenchmarkGoChannelPublish1Subscriber(b *testing.B) {
	benchFanOut(b, newGoChannel, 1, 256)
}

func BenchmarkGoChannelPublish1000Subscribers(b *testing.B) {
	benchFanOut(b, newGoChannel, 1000, 32)
}

// BenchmarkPublishNoSubscribers is the cost of publishing an event nobody
// follows.
func BenchmarkPublishNoSubscribers(b *testing.B) {
	p := inproc.New(inproc.Config{})
	defer p.Close()
	msg := message.NewMessage("1", make([]byte, 200))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Publish("topic", msg); err != nil {
			b.Fatal(err)
		}
	}
}

// benchFanOut publishes b.N messages of 200 bytes to one topic with n
// subscribers, each receiving and acking all of them. The publisher stays
// at most two windows ahead of the slowest subscriber, so inproc never
// overflows (2*window is below its default queue) and GoChannel's
// goroutines per unacked message and subscriber stay bounded. One op is one
// message published and delivered to every subscriber.
func benchFanOut(b *testing.B, newPubSub func() (message.Publisher, message.Subscriber), n, window int) {
	pub, sub := newPubSub()
	defer func() { _ = pub.Close() }()

	windows := (b.N + window - 1) / window
	drained := make([]sync.WaitGroup, windows) // drained[w]: every subscriber acked window w
	for w := range drained {
		drained[w].Add(n)
	}
	var consumers sync.WaitGroup
	for range n {
		ch, err := sub.Subscribe(context.Background(), "topic")
		if err != nil {
			b.Fatal(err)
		}
		consumers.Go(func() { consume(b, ch, window, drained) })
	}

	payload := make([]byte, 200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := pub.Publish("topic", message.NewMessage(strconv.Itoa(i), payload)); err != nil {
			b.Fatal(err)
		}
		if w := i / window; i%window == window-1 && w > 0 {
			drained[w-1].Wait()
		}
	}
	drained[windows-1].Wait()
	b.StopTimer()
	consumers.Wait()

	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "msgs/s")
	b.ReportMetric(float64(b.N*n)/secs, "deliveries/s")
}

func consume(b *testing.B, ch <-chan *message.Message, window int, drained []sync.WaitGroup) {
	for i := range b.N {
		m, ok := <-ch
		if !ok {
			b.Error("channel closed early")
			return
		}
		if inproc.Overflowed(m) {
			b.Error("subscriber overflowed")
		}
		m.Ack()
		if i%window == window-1 || i == b.N-1 {
			drained[i/window].Done()
		}
	}
}

// BenchmarkIdleSubscription reports what an idle subscription costs: heap
// plus goroutine stacks, and goroutines, per subscription.
func BenchmarkIdleSubscription(b *testing.B) {
	for _, c := range []struct {
		name string
		new  func() (message.Publisher, message.Subscriber)
	}{{"inproc", newInproc}, {"gochannel", newGoChannel}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				bytes, goroutines := idleCost(b, c.new, 10_000)
				b.ReportMetric(bytes, "B/sub")
				b.ReportMetric(goroutines, "goroutines/sub")
			}
		})
	}
}

// idleCost opens n subscriptions, one topic each (weft's one topic per
// execution), under one cancellable context, and returns the growth of
// heap plus stacks per subscription and goroutines per subscription.
func idleCost(tb testing.TB, newPubSub func() (message.Publisher, message.Subscriber), n int) (bytesPerSub, goroutinesPerSub float64) {
	pub, sub := newPubSub()
	defer func() { _ = pub.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topics := make([]string, n) // the caller's strings, not the subscription's cost
	for i := range topics {
		topics[i] = "executions.exec_" + strconv.Itoa(i)
	}
	chans := make([]<-chan *message.Message, n)

	before, g0 := memNow()
	for i, topic := range topics {
		ch, err := sub.Subscribe(ctx, topic)
		if err != nil {
			tb.Fatal(err)
		}
		chans[i] = ch
	}
	after, g1 := memNow()
	runtime.KeepAlive(chans)
	return float64(after-before) / float64(n), float64(g1-g0) / float64(n)
}

func memNow() (bytes uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse, runtime.NumGoroutine()
}
