package inproc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/weft-run/weft/events/inproc"
)

// FuzzOrder drives one PubSub through a random interleaving of publishes
// (single and batched, on two topics), subscribes, consumes (ack), nacks
// and cancels, with a queue of 1 to 4 so that subscribers overflow often,
// then checks each subscriber's stream against what was published. Plain
// `go test` runs the seed corpus: 64 random programs.
func FuzzOrder(f *testing.F) {
	for i := range 64 {
		r := rand.New(rand.NewPCG(uint64(i), 42))
		prog := make([]byte, 100+r.IntN(600))
		for j := range prog {
			prog[j] = byte(r.UintN(256))
		}
		f.Add(prog)
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) < 1 {
			return
		}
		newSim(t, int(prog[0]%4)+1).run(prog[1:])
	})
}

// sim is one run. The clock counts operations; everything happens on the
// test goroutine, so "published at clock c" and "received at clock c" are
// totally ordered with each other.
type sim struct {
	t         *testing.T
	ps        *inproc.PubSub
	queueSize int
	clock     int
	nextSeq   int
	published [2][]pub // per topic
	subs      []*simSub
}

type pub struct{ seq, at int }

type simSub struct {
	topic     int
	ch        <-chan *message.Message
	cancel    context.CancelFunc
	since     int // clock of Subscribe
	cancelled bool
	pending   *message.Message // received, neither acked nor nacked
	redeliver string           // UUID the next message must have, after a nack
	log       []got            // one entry per message, redeliveries excluded
}

type got struct {
	seq    int // 0 for a marker
	marker bool
	at     int
}

func newSim(t *testing.T, queueSize int) *sim {
	return &sim{t: t, ps: inproc.New(inproc.Config{QueueSize: queueSize}), queueSize: queueSize}
}

func topicName(i int) string { return "topic-" + strconv.Itoa(i) }

func (s *sim) run(prog []byte) {
	defer s.ps.Close()
	for i := 0; i+1 < len(prog); i += 2 {
		s.clock++
		s.step(prog[i], prog[i+1])
	}
	s.clock++
	s.drain()
	for i, sub := range s.subs {
		s.check(i, sub)
	}
}

func (s *sim) step(op, arg byte) {
	switch op % 8 {
	case 0, 1, 2: // publish 1 to 3 messages at once
		s.publish(int(arg%2), 1+int(arg/2%3))
	case 3:
		if len(s.subs) < 6 {
			s.subscribe(int(arg % 2))
		} else {
			s.consume(s.pick(arg))
		}
	case 4, 5:
		s.consume(s.pick(arg))
	case 6:
		s.nack(s.pick(arg))
	case 7:
		if arg%8 == 0 {
			s.cancel(s.pick(arg))
		} else {
			s.consume(s.pick(arg))
		}
	}
}

func (s *sim) pick(arg byte) *simSub {
	if len(s.subs) == 0 {
		return nil
	}
	return s.subs[int(arg)%len(s.subs)]
}

func (s *sim) publish(topic, n int) {
	msgs := make([]*message.Message, n)
	for i := range msgs {
		s.nextSeq++
		msgs[i] = newMsg(s.nextSeq)
		s.published[topic] = append(s.published[topic], pub{seq: s.nextSeq, at: s.clock})
	}
	if err := s.ps.Publish(topicName(topic), msgs...); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sim) subscribe(topic int) {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.ps.Subscribe(ctx, topicName(topic))
	if err != nil {
		s.t.Fatal(err)
	}
	s.subs = append(s.subs, &simSub{topic: topic, ch: ch, cancel: cancel, since: s.clock})
}

// consume acks the pending message, then takes the next one if it is
// ready (the delivery goroutine may not have sent it yet: that is part of
// the interleaving).
func (s *sim) consume(sub *simSub) {
	if sub == nil || sub.cancelled {
		return
	}
	if sub.pending != nil {
		sub.pending.Ack()
		sub.pending = nil
	}
	for range 3 {
		select {
		case m, ok := <-sub.ch:
			if !ok {
				s.t.Fatal("channel closed while subscribed")
			}
			s.receive(sub, m)
			return
		default:
			runtime.Gosched()
		}
	}
}

func (s *sim) nack(sub *simSub) {
	if sub == nil || sub.cancelled || sub.pending == nil {
		return
	}
	sub.redeliver = sub.pending.UUID
	sub.pending.Nack()
	sub.pending = nil
}

func (s *sim) cancel(sub *simSub) {
	if sub == nil || sub.cancelled {
		return
	}
	sub.cancelled = true
	sub.cancel()
	if sub.pending != nil {
		sub.pending.Ack()
		sub.pending = nil
	}
	// After the cancel a message already being sent may still arrive;
	// then the channel closes.
	deadline := time.After(waitLong)
	for {
		select {
		case _, ok := <-sub.ch:
			if !ok {
				return
			}
		case <-deadline:
			s.t.Fatal("channel not closed after cancel")
		}
	}
}

func (s *sim) receive(sub *simSub, m *message.Message) {
	sub.pending = m
	if sub.redeliver != "" {
		if m.UUID != sub.redeliver {
			s.t.Fatalf("after nack of %s got %s", sub.redeliver, m.UUID)
		}
		sub.redeliver = ""
		return
	}
	if inproc.Overflowed(m) {
		if len(m.Payload) != 0 {
			s.t.Fatalf("marker with payload %q", m.Payload)
		}
		sub.log = append(sub.log, got{marker: true, at: s.clock})
		return
	}
	sub.log = append(sub.log, got{seq: seqOf(s.t, m), at: s.clock})
}

// drain consumes everything still coming to live subscribers. With no more
// publishes, nothing more comes once the PubSub is quiescent.
func (s *sim) drain() {
	deadline := time.Now().Add(waitLong)
	for {
		progress := false
		for _, sub := range s.subs {
			if sub.cancelled {
				continue
			}
			if sub.pending != nil {
				sub.pending.Ack()
				sub.pending = nil
				progress = true
			}
			select {
			case m := <-sub.ch:
				s.receive(sub, m)
				progress = true
			default:
			}
		}
		if !progress && s.ps.Quiescent() {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatal("subscribers not drained within", waitLong)
		}
		if !progress {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// check asserts, for one subscriber:
//   - the messages it got are a strictly increasing subsequence of what
//     its topic published after it subscribed;
//   - every message it missed lies in a gap that holds an overflow marker,
//     received after the missed message was published (every dropped
//     message precedes its marker); a cancelled subscriber may also miss
//     its tail;
//   - two markers are at least QueueSize messages apart: one overflow, one
//     marker.
func (s *sim) check(i int, sub *simSub) {
	t := s.t
	want := map[int]int{} // seq -> publish clock
	var order []int
	for _, p := range s.published[sub.topic] {
		if p.at > sub.since {
			want[p.seq] = p.at
			order = append(order, p.seq)
		}
	}
	last, sinceMarker := 0, -1
	got := map[int]bool{}
	for _, g := range sub.log {
		if g.marker {
			if sinceMarker >= 0 && sinceMarker < s.queueSize {
				t.Fatalf("sub %d: markers only %d messages apart, queue size %d", i, sinceMarker, s.queueSize)
			}
			sinceMarker = 0
			continue
		}
		if _, ok := want[g.seq]; !ok {
			t.Fatalf("sub %d: got seq %d, not published on its topic after it subscribed", i, g.seq)
		}
		if g.seq <= last {
			t.Fatalf("sub %d: seq %d after %d", i, g.seq, last)
		}
		last = g.seq
		got[g.seq] = true
		if sinceMarker >= 0 {
			sinceMarker++
		}
	}
	for _, seq := range order {
		if got[seq] {
			continue
		}
		if sub.cancelled && seq > last {
			continue
		}
		if !markerCovers(sub.log, seq, want[seq]) {
			t.Fatalf("sub %d (queue %d): seq %d published at %d missing with no later marker in its gap; log %s",
				i, s.queueSize, seq, want[seq], fmtLog(sub.log))
		}
	}
}

// markerCovers reports whether log has a marker between the last message
// before seq and the first after it, received after seq was published.
func markerCovers(log []got, seq, publishedAt int) bool {
	covered := false
	for _, g := range log {
		switch {
		case g.marker:
			covered = covered || g.at > publishedAt
		case g.seq < seq:
			covered = false // the gap starts after this message
		default:
			return covered // past the gap
		}
	}
	return covered
}

func fmtLog(log []got) string {
	var b []byte
	for _, g := range log {
		if g.marker {
			b = fmt.Appendf(b, "M@%d ", g.at)
		} else {
			b = fmt.Appendf(b, "%d@%d ", g.seq, g.at)
		}
	}
	return string(b)
}
