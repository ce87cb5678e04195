package events_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/events/eventstest"
	"github.com/weft-run/weft/events/inproc"
)

// handOver is one run of the property: an appender stores then publishes
// n events while subscribers join at random moments, from random seqs,
// some of them slow enough to overflow their queue. Each must get exactly
// the events after its seq, in order, ending with the terminal one.
func handOver(t *testing.T, seed uint64, n, subscribers, queue int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ps := inproc.New(inproc.Config{QueueSize: queue, Logger: watermill.NopLogger{}})
	bus := events.NewBus(ps, ps)
	defer bus.Close()
	log := &eventstest.Log{}
	const id = "exec_p"

	type plan struct {
		startAt int           // subscribe once this many events are appended
		after   uint64        // resume point
		pause   time.Duration // per delivered event
	}
	plans := make([]plan, subscribers)
	for i := range plans {
		start := rng.IntN(n + 1)
		plans[i] = plan{startAt: start, after: uint64(rng.IntN(start + 1))}
		if rng.IntN(3) == 0 {
			plans[i].pause = time.Duration(rng.IntN(200)) * time.Microsecond
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, subscribers)
	start := func(p plan) {
		feed, err := bus.Subscribe(ctx, id)
		if err != nil {
			errs <- err
			return
		}
		wg.Go(func() {
			want := p.after + 1
			err := events.Follow(ctx, feed, log, id, p.after, func(s events.Stored) error {
				if s.Seq != want {
					return fmt.Errorf("got seq %d, want %d", s.Seq, want)
				}
				want++
				if p.pause > 0 {
					time.Sleep(p.pause)
				}
				return nil
			})
			if err == nil && want != uint64(n)+1 {
				err = fmt.Errorf("ended after seq %d of %d", want-1, n)
			}
			if err != nil {
				errs <- fmt.Errorf("subscriber after %d joining at %d: %w", p.after, p.startAt, err)
			}
		})
	}
	for seq := 1; seq <= n; seq++ {
		for _, p := range plans {
			if p.startAt == seq-1 {
				start(p)
			}
		}
		typ := events.LLMDelta
		if seq == n {
			typ = events.ExecutionCompleted
		}
		s, err := events.Encode(sample(typ, uint64(seq), events.LLMDetails{StepID: "1", Text: "t"}))
		if err != nil {
			t.Fatal(err)
		}
		log.Append(s) // persist, then publish
		if err := bus.Publish(id, s); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(8) == 0 {
			time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
		}
	}
	for _, p := range plans {
		if p.startAt == n {
			start(p)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestFollowHandsOverWithoutGapOrDuplicate(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			handOver(t, seed, 400, 12, 4+int(seed%5)*8)
		})
	}
}

// FuzzFollow explores the same property over random seeds, lengths and
// queue sizes.
func FuzzFollow(f *testing.F) {
	f.Add(uint64(1), uint16(100), uint8(4))
	f.Add(uint64(7), uint16(3), uint8(1))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, queue uint8) {
		handOver(t, seed, 1+int(n%1000), 6, 1+int(queue%64))
	})
}

// TestFollowSkipsMessagesWithoutSeq: a message on the execution's topic
// that carries no seq (a stray publisher) neither ends the follow nor
// reaches the subscriber; the store's events do, in order.
func TestFollowSkipsMessagesWithoutSeq(t *testing.T) {
	ps := inproc.New(inproc.Config{QueueSize: 16, Logger: watermill.NopLogger{}})
	bus := events.NewBus(ps, ps)
	defer bus.Close()
	log := &eventstest.Log{}
	const id = "exec_stray"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	feed, err := bus.Subscribe(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var got []uint64
	go func() {
		done <- events.Follow(ctx, feed, log, id, 0, func(s events.Stored) error {
			got = append(got, s.Seq)
			return nil
		})
	}()
	for seq := uint64(1); seq <= 3; seq++ {
		typ := events.LLMDelta
		if seq == 3 {
			typ = events.ExecutionCompleted
		}
		s, err := events.Encode(sample(typ, seq, events.LLMDetails{StepID: "1", Text: "t"}))
		if err != nil {
			t.Fatal(err)
		}
		log.Append(s)
		if seq == 2 { // a stray message before the event is published
			if err := ps.Publish(events.ExecutionTopic(id), message.NewMessage(watermill.NewUUID(), []byte(`{"type":"x"}`))); err != nil {
				t.Fatal(err)
			}
		}
		if err := bus.Publish(id, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("delivered seqs %v, want [1 2 3]", got)
	}
}
