package jsstore

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fakeLeader is a stream's leader: the messages it holds, by stream
// sequence, all of one filter. Tests change it while a read goes on (a
// purge).
type fakeLeader struct {
	mu   sync.Mutex
	seqs []uint64
}

func (l *fakeLeader) GetMsg(_ context.Context, seq uint64, _ ...jetstream.GetMsgOpt) (*jetstream.RawStreamMsg, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.Contains(l.seqs, seq) {
		return &jetstream.RawStreamMsg{Sequence: seq}, nil
	}
	return nil, jetstream.ErrMsgNotFound
}

func (l *fakeLeader) GetLastMsgForSubject(context.Context, string) (*jetstream.RawStreamMsg, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seqs) == 0 {
		return nil, jetstream.ErrMsgNotFound
	}
	return &jetstream.RawStreamMsg{Sequence: l.seqs[len(l.seqs)-1]}, nil
}

func (l *fakeLeader) purge(seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seqs = slices.DeleteFunc(l.seqs, func(s uint64) bool { return s == seq })
}

// fakeMsg is a message a consumer delivers: only its stream sequence.
type fakeMsg struct {
	jetstream.Msg
	seq uint64
}

func (m fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}}, nil
}

// replica is a consumer on a lagging replica: it has nothing for the
// first empty fetches, then delivers seqs one fetch at a time.
type replica struct {
	empty int
	seqs  []uint64
	after func(fetches int) // called after each fetch
	n     int
}

func (r *replica) fetch() ([]jetstream.Msg, error) {
	r.n++
	defer func() {
		if r.after != nil {
			r.after(r.n)
		}
	}()
	if r.n <= r.empty || len(r.seqs) == 0 {
		return nil, nil
	}
	m := fakeMsg{seq: r.seqs[0]}
	r.seqs = r.seqs[1:]
	return []jetstream.Msg{m}, nil
}

// A listing reads until the replica has delivered the last message the
// leader had matching the filter, however long the replica lags, and
// stops waiting for one that was removed meanwhile. The kill -9 cluster
// test found the case where a lagging replica's "nothing for now" ended
// a listing of unfinished executions empty.
func TestLagReaderWaitsForTheLeadersLast(t *testing.T) {
	for _, tc := range []struct {
		name     string
		leader   []uint64 // the leader's messages matching the filter
		replica  replica
		purgeAt  int    // after this many fetches, purge purge from the leader
		purge    uint64 // (0: none)
		patience time.Duration
		want     []uint64
		wantErr  bool
	}{
		{name: "replica up to date", leader: []uint64{2, 5, 9},
			replica: replica{seqs: []uint64{2, 5, 9}}, want: []uint64{2, 5, 9}},
		{name: "replica lags", leader: []uint64{2, 5, 9},
			replica: replica{empty: 20, seqs: []uint64{2, 5, 9}}, want: []uint64{2, 5, 9}},
		{name: "replica lags, later writes read too", leader: []uint64{2, 5},
			replica: replica{empty: 5, seqs: []uint64{2, 5, 11}}, want: []uint64{2, 5, 11}},
		{name: "the last is purged while the replica lags", leader: []uint64{2, 5, 9},
			replica: replica{empty: 30, seqs: []uint64{2, 5}}, purgeAt: 10, purge: 9, want: []uint64{2, 5}},
		{name: "nothing matches", leader: nil, replica: replica{seqs: []uint64{3}}, want: nil},
		{name: "replica never catches up", leader: []uint64{2, 5},
			replica: replica{seqs: []uint64{2}}, patience: 100 * time.Millisecond, want: []uint64{2}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &fakeLeader{seqs: tc.leader}
			rep := tc.replica
			if tc.purge != 0 {
				rep.after = func(n int) {
					if n == tc.purgeAt {
						l.purge(tc.purge)
					}
				}
			}
			ctx := context.Background()
			last, err := lastMatching(ctx, l, "f.>")
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			r := lagReader{leader: l, filter: "f.>", last: last, patience: cmpDuration(tc.patience, 10*time.Second),
				fn: func(_ jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
					got = append(got, meta.Sequence.Stream)
					return false, nil
				}}
			if last != 0 {
				err = r.run(ctx, rep.fetch)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("run: %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("read %v, want %v", got, tc.want)
			}
		})
	}
}

func cmpDuration(d, fallback time.Duration) time.Duration {
	if d == 0 {
		return fallback
	}
	return d
}
