package jsstore

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/internal/natstest"
	"github.com/weft-run/weft/persistence"
)

// lostAcks is a JetStream whose next publishes (lose of them) are stored
// but answered as timed out: what a client sees when an attempt outlives
// attemptTimeout on a loaded server and is retried.
type lostAcks struct {
	jetstream.JetStream
	lose atomic.Int32 // acks still to lose
	lost atomic.Int32 // acks lost
}

func (l *lostAcks) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := l.JetStream.PublishMsg(ctx, msg, opts...)
	if err == nil && l.lose.Add(-1) >= 0 {
		l.lost.Add(1)
		return nil, context.DeadlineExceeded
	}
	return ack, err
}

func loseAcks(s *Store, n int32) *lostAcks {
	l := &lostAcks{JetStream: s.js}
	l.lose.Store(n)
	s.js = l
	return l
}

// A write whose publish landed but whose ack was lost is retried with the
// same message id and the same fence. The retry must be answered as the
// write that landed, not refused as fenced: a single server checks the
// fence before the message id (a cluster checks the id first), so there
// the retry comes back "wrong last sequence".
func TestRetryOfALandedAppendIsNotFenced(t *testing.T) {
	for _, tc := range []struct {
		name    string
		servers int
	}{
		{"single server", 1},
		{"R3 cluster", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.servers > 1 && testing.Short() {
				t.Skip("a 3-server cluster")
			}
			url := natstest.Server(t).URL()
			if tc.servers > 1 {
				url = natstest.URLs(natstest.Cluster(t, tc.servers))
			}
			s, err := Open(t.Context(), natstest.Connect(t, url), Options{Replicas: tc.servers})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			mustCreate(t, s, "exec_1")
			if err := s.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 2)}}); err != nil {
				t.Fatal(err)
			}

			lost := loseAcks(s, 1)
			if err := s.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 3), ev("exec_1", 4)},
				Steps: []persistence.Step{{ID: "s1", Name: "after a lost ack"}}}); err != nil {
				t.Fatalf("a write whose first attempt landed: %v", err)
			}
			if lost.lost.Load() != 1 {
				t.Fatal("no ack was lost: the test did not retry")
			}
			if err := s.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 5)}}); err != nil {
				t.Fatalf("the next write: %v", err)
			}
			got, err := s.StoredEvents(ctx, "exec_1", 0, 0)
			if err != nil || len(got) != 5 {
				t.Fatalf("log = %d events, %v; want 5, each once", len(got), err)
			}
			if steps, _ := s.Steps(ctx, "exec_1"); steps["s1"].Name != "after a lost ack" {
				t.Fatalf("steps = %v", steps)
			}
		})
	}
}

// Another writer's append after the fence is still a fence: the message
// that follows it is not this write's own.
func TestRetryAfterAnotherWriterIsFenced(t *testing.T) {
	stores := testStores(t, 2)
	a, b := stores[0], stores[1]
	ctx := t.Context()
	mustCreate(t, a, "exec_1")
	if err := a.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 2)}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 3)}}); err != nil {
		t.Fatal(err)
	}
	lost := loseAcks(a, 1)
	err := a.Commit(ctx, persistence.Write{ExecutionID: "exec_1", Events: []events.Event{ev("exec_1", 3)}})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("A's write after B's = %v, want ErrFenced", err)
	}
	if lost.lost.Load() != 0 {
		t.Fatal("an ack was lost although nothing was stored")
	}
	if got, _ := a.StoredEvents(ctx, "exec_1", 0, 0); len(got) != 3 {
		t.Fatalf("log has %d events, want 3", len(got))
	}
}
