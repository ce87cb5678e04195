package natsbus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/events/eventstest"
	"github.com/weft-run/weft/events/natsbus"
)

// appendEvent stores the execution's next event in log (terminal when
// asked) and returns it, unpublished.
func appendEvent(t *testing.T, log *eventstest.Log, terminal bool) events.Stored {
	t.Helper()
	typ := events.LLMDelta
	if terminal {
		typ = events.ExecutionCompleted
	}
	e := events.New(typ, events.LLMDetails{StepID: "1", Text: "t"})
	e.Data.Seq, e.Data.ExecutionID, e.Data.Workflow = uint64(log.Len()+1), followedID, "wf"
	e.Data.Timestamp = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	log.Append(s)
	return s
}

const followedID = "exec_drop"

// follower runs events.Follow over a natsbus bus whose subscriber holds 2
// messages, delivering into got. Its first delivery (seq 1, from the
// store read that returned only it) waits for release, so that what is
// published meanwhile overflows the queue; startFollower returns once it
// waits.
type follower struct {
	ps      *natsbus.PubSub
	bus     *events.Bus
	log     *eventstest.Log
	got     chan events.Stored
	release chan struct{}
	done    chan error
}

func startFollower(t *testing.T, idle time.Duration) *follower {
	t.Helper()
	ps, _ := newPubSub(t, natsbus.WithQueueSize(2))
	f := &follower{
		ps: ps, bus: events.NewBus(ps, ps).WithIdleCheck(idle), log: &eventstest.Log{},
		got: make(chan events.Stored, 100), release: make(chan struct{}), done: make(chan error, 1),
	}
	f.store(t, false) // seq 1, read from the store by the catch-up
	feed, err := f.bus.Subscribe(t.Context(), followedID)
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	first := true
	go func() {
		f.done <- events.Follow(t.Context(), feed, f.log, followedID, 0, func(s events.Stored) error {
			if first {
				first = false
				close(entered)
				<-f.release
			}
			f.got <- s
			return nil
		})
	}()
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("Follow did not deliver seq 1 from the store")
	}
	return f
}

// store appends the next event and publishes it, as an execution's owner
// does: stored first.
func (f *follower) store(t *testing.T, terminal bool) {
	t.Helper()
	s := appendEvent(t, f.log, terminal)
	if err := f.bus.Publish(followedID, s); err != nil {
		t.Fatal(err)
	}
}

// expect waits for the events with seqs from..to, in order, each once.
func (f *follower) expect(t *testing.T, from, to uint64) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		select {
		case s := <-f.got:
			if s.Seq != seq {
				t.Fatalf("got seq %d, want %d", s.Seq, seq)
			}
		case <-time.After(wait):
			t.Fatalf("seq %d never delivered", seq)
		}
	}
}

func (f *follower) expectEnd(t *testing.T) {
	t.Helper()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("Follow = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Follow did not end after the terminal event")
	}
	select {
	case s := <-f.got:
		t.Fatalf("seq %d delivered after the terminal event", s.Seq)
	default:
	}
}

// Events a slow subscriber lost on the bus (its queue full) are read from
// the store as soon as a later one shows the gap, with no idle check.
func TestFollowFillsDroppedEventsFromTheStore(t *testing.T) {
	f := startFollower(t, 0)
	for range 8 { // seqs 2..9: the queue keeps 2 and 3
		f.store(t, false)
	}
	waitFor(t, "6 messages dropped", func() bool { return f.ps.Dropped() == 6 })
	close(f.release)
	f.expect(t, 1, 3)
	f.store(t, true) // seq 10 reveals the gap 4..9
	f.expect(t, 4, 10)
	f.expectEnd(t)
}

// A dropped terminal event has nothing after it to reveal the gap: the idle
// check reads it from the store (cluster mode checks every 2 s; 20 ms here).
func TestFollowIdleCheckDeliversADroppedFinalEvent(t *testing.T) {
	f := startFollower(t, 20*time.Millisecond)
	for i := range 5 { // seqs 2..6, the last terminal: 4..6 dropped
		f.store(t, i == 4)
	}
	waitFor(t, "3 messages dropped", func() bool { return f.ps.Dropped() == 3 })
	close(f.release)
	f.expect(t, 1, 6)
	f.expectEnd(t)
}

// Without the idle check, the same loss leaves Follow waiting: the check
// is what ends it (this is why cluster mode's bus has one).
func TestFollowWithoutIdleCheckWaitsForADroppedFinalEvent(t *testing.T) {
	f := startFollower(t, 0)
	for i := range 5 {
		f.store(t, i == 4)
	}
	waitFor(t, "3 messages dropped", func() bool { return f.ps.Dropped() == 3 })
	close(f.release)
	f.expect(t, 1, 3)
	// Close ends the subscription: Follow, still waiting for seq 4, sees
	// the bus closed rather than the execution's end.
	if err := f.ps.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-f.done:
		if !errors.Is(err, events.ErrBusClosed) {
			t.Fatalf("Follow = %v, want ErrBusClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Follow did not end when the bus closed")
	}
}
