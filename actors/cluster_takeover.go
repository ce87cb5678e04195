package actors

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/weft-run/weft/persistence"
)

// takeovers resume the unfinished executions of the partitions this node
// acquires. When a node dies, the others take its partitions a few at a
// time within moments; one goroutine resumes them in batches, each batch
// one listing of the unfinished executions for all its partitions, rather
// than one listing per partition (a third of 64 partitions, each reading
// every unfinished execution of the cluster).
//
// A failed listing (a stream leader being elected after a NATS server
// died, as often happens together with the node that held the partitions)
// is tried again while the partitions are still this node's: nobody else
// will resume their executions. The goroutine ends when nothing is
// pending, when the store is closed, or at shutdown (Drain).
type takeovers struct {
	mu      sync.Mutex
	pending map[int]time.Time // partition → when it was acquired
	running bool
}

// A batch whose listing failed is tried again after takeoverRetryFirst,
// then twice as long each time, at most takeoverRetryMax.
const (
	takeoverRetryFirst = 500 * time.Millisecond
	takeoverRetryMax   = 5 * time.Second
)

// takeoverTimeout bounds the store reads of one batch.
const takeoverTimeout = time.Minute

// add queues partition p and starts the resuming goroutine if it is not
// running.
func (t *takeovers) add(s *System, p int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queueLocked(p, time.Now())
	if !t.running {
		t.running = true
		go t.run(s)
	}
}

// next takes the pending partitions still held, or ends the goroutine
// (running false) when there are none.
func (t *takeovers) next(s *System) map[int]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	batch := t.pending
	t.pending = nil
	maps.DeleteFunc(batch, func(p int, _ time.Time) bool { return !s.own.holds(p) })
	if len(batch) == 0 {
		t.running = false
	}
	return batch
}

// requeue puts back the partitions of a failed batch, keeping when each
// was acquired.
func (t *takeovers) requeue(batch map[int]time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, at := range batch {
		t.queueLocked(p, at)
	}
}

// queueLocked adds partition p, acquired at at, unless it is pending
// already (from an earlier acquisition). t.mu is held.
func (t *takeovers) queueLocked(p int, at time.Time) {
	if t.pending == nil {
		t.pending = map[int]time.Time{}
	}
	if _, ok := t.pending[p]; !ok {
		t.pending[p] = at
	}
}

func (t *takeovers) run(s *System) {
	wait := takeoverRetryFirst
	for {
		batch := t.next(s)
		if len(batch) == 0 {
			return
		}
		err := s.resumePartitions(batch)
		switch {
		case err == nil:
			wait = takeoverRetryFirst
		case errors.Is(err, persistence.ErrClosed):
			t.stop()
			return
		default:
			s.log.Warn().Err(err).Ints("partitions", slices.Sorted(maps.Keys(batch))).Dur("retry_in", wait).
				Msg("resume the executions of partitions acquired")
			t.requeue(batch)
			select {
			case <-time.After(wait):
			case <-s.drain:
				t.stop() // shutting down: the partitions' next owners resume them
				return
			}
			wait = min(2*wait, takeoverRetryMax)
		}
	}
}

// stop drops what is pending and lets the next add start a goroutine.
func (t *takeovers) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending, t.running = nil, false
}

// resumePartitions resumes the unfinished executions of the partitions of
// batch (those still held when they are found), and logs each partition's
// count: at info level when there were some (a take-over, which operators
// want to see), with how long after the acquisition.
func (s *System) resumePartitions(batch map[int]time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), takeoverTimeout)
	defer cancel()
	resumed, err := s.recoverWhere(ctx, func(id string) bool {
		p := s.own.partitionOf(id)
		_, ok := batch[p]
		return ok && s.own.holds(p)
	})
	if err != nil {
		return err
	}
	counts := map[int]int{}
	for _, e := range resumed {
		counts[s.own.partitionOf(e.ID)]++
	}
	for _, p := range slices.Sorted(maps.Keys(batch)) {
		lvl := zerolog.DebugLevel
		if counts[p] > 0 {
			lvl = zerolog.InfoLevel
		}
		s.log.WithLevel(lvl).Int("partition", p).Int("resumed_executions", counts[p]).
			Dur("took", time.Since(batch[p])).Msg("partition acquired")
	}
	return nil
}
