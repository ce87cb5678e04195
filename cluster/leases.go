package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func (l *loop) holderValue() []byte {
	return mustEncode(holder{Node: l.n.self.ID, Instance: l.n.self.Instance})
}

// deadlineAfter is when a lease written at sent stops being trusted
// without a renewal (see Config.safetyMargin).
func (l *loop) deadlineAfter(sent time.Time) time.Time {
	return sent.Add(l.n.cfg.LeaseTTL - l.n.cfg.safetyMargin())
}

func (l *loop) ownedPartitions() []int {
	l.n.mu.Lock()
	defer l.n.mu.Unlock()
	ps := make([]int, 0, len(l.n.owned))
	for p := range l.n.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

func (l *loop) ownedLease(p int) (lease, bool) {
	l.n.mu.Lock()
	defer l.n.mu.Unlock()
	ls, ok := l.n.owned[p]
	if !ok {
		return lease{}, false
	}
	return *ls, true
}

// acquire tries to take a free partition: Create succeeds only if the key
// is absent or deleted, so of two nodes racing for it exactly one wins.
// It returns false on a lost race or an error (then stop trying this
// round: the connection is likely down).
func (l *loop) acquire(ctx context.Context, p int) (won bool, err error) {
	return l.claim(ctx, p, func(ctx context.Context) (uint64, error) {
		rev, err := l.n.leases.Create(ctx, leaseKey(p), l.holderValue())
		if err != nil && !isCASConflict(err) {
			err = fmt.Errorf("acquire partition %d: %w", p, err)
		}
		return rev, err
	})
}

// claim writes partition p's lease for this node with write (a create,
// or a compare-and-set over a stale lease) and, if it won, makes p this
// node's and tells the handler.
func (l *loop) claim(ctx context.Context, p int, write func(context.Context) (uint64, error)) (won bool, err error) {
	sent := time.Now()
	rev, err := write(ctx)
	if isCASConflict(err) {
		return false, nil // someone else has it; the watcher will say who
	}
	if err != nil {
		return false, err
	}
	n := l.n
	n.mu.Lock()
	n.owned[p] = &lease{token: Token(rev), rev: rev, deadline: l.deadlineAfter(sent)}
	count := len(n.owned)
	n.mu.Unlock()
	l.view[p] = viewEntry{held: true, holder: holder{Node: n.self.ID, Instance: n.self.Instance}, rev: rev}
	n.metrics.owned.Set(float64(count))
	n.metrics.acquisitions.Inc()
	n.log.Debug().Int("partition", p).Uint64("token", rev).Msg("lease acquired")
	n.handler.Acquired(p, Token(rev))
	return true, nil
}

// renewAll renews every lease with compare-and-set on its last revision.
// The first error that is not a conflict ends the round: with no
// connection every renewal would wait for the same timeout.
func (l *loop) renewAll(ctx context.Context) {
	val := l.holderValue()
	for _, p := range l.ownedPartitions() {
		ls, ok := l.ownedLease(p)
		if !ok {
			continue
		}
		sent := time.Now()
		rev, err := l.n.leases.Update(ctx, leaseKey(p), val, ls.rev)
		switch {
		case err == nil:
			l.renewed(p, rev, sent)
		case isCASConflict(err):
			l.checkTaken(ctx, p)
		default:
			l.n.log.Warn().Err(err).Int("partition", p).Msg("lease not renewed")
			return
		}
	}
}

func (l *loop) renewed(p int, rev uint64, sent time.Time) {
	l.n.mu.Lock()
	if ls := l.n.owned[p]; ls != nil {
		ls.rev, ls.deadline = rev, l.deadlineAfter(sent)
	}
	l.n.mu.Unlock()
	l.n.metrics.renewals.Inc()
}

// checkTaken runs after a renewal's compare-and-set failed. If the lease
// still names this run, the revision moved by our own earlier renewal
// whose answer was lost: adopt it (the deadline stays that of the last
// renewal we know of). Otherwise the partition is someone else's.
func (l *loop) checkTaken(ctx context.Context, p int) {
	e, err := l.n.leases.Get(ctx, leaseKey(p))
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return // unknown: the deadline decides
	}
	if err == nil {
		if h, err := decodeHolder(e.Value()); err == nil && h.Instance == l.n.self.Instance {
			l.n.mu.Lock()
			if ls := l.n.owned[p]; ls != nil {
				ls.rev = e.Revision()
			}
			l.n.mu.Unlock()
			return
		}
	}
	l.loseIfOwned(p, Taken)
}

// expireOverdue drops every lease whose deadline has passed: this node
// could not renew it in time, and the server may free it any moment.
func (l *loop) expireOverdue(now time.Time) {
	for _, p := range l.ownedPartitions() {
		if ls, ok := l.ownedLease(p); ok && !now.Before(ls.deadline) {
			l.n.log.Warn().Int("partition", p).Msg("lease expired before it could be renewed")
			l.loseIfOwned(p, Expired)
		}
	}
}

// loseIfOwned forgets partition p and tells the handler, if p was ours.
func (l *loop) loseIfOwned(p int, reason LossReason) bool {
	n := l.n
	n.mu.Lock()
	_, ok := n.owned[p]
	delete(n.owned, p)
	count := len(n.owned)
	n.mu.Unlock()
	if !ok {
		return false
	}
	n.metrics.owned.Set(float64(count))
	n.metrics.lost.WithLabelValues(string(reason)).Inc()
	n.log.Debug().Int("partition", p).Str("reason", string(reason)).Msg("lease lost")
	n.handler.Lost(p, reason)
	return true
}

func (l *loop) dropAll(reason LossReason) {
	for _, p := range l.ownedPartitions() {
		l.loseIfOwned(p, reason)
	}
}

// release hands partition p over: the handler stops its executions first,
// then the lease is deleted, compare-and-set on its revision so that a
// lease someone else holds by now is left alone.
func (l *loop) release(ctx context.Context, p int) error {
	ls, ok := l.ownedLease(p)
	if !ok || !l.loseIfOwned(p, Released) {
		return nil
	}
	l.view[p] = viewEntry{rev: ls.rev, freeSince: time.Now()}
	err := l.n.leases.Delete(ctx, leaseKey(p), jetstream.LastRevision(ls.rev))
	if err != nil && !isCASConflict(err) {
		return fmt.Errorf("cluster: release partition %d (it expires after the TTL instead): %w", p, err)
	}
	return nil
}

// partitionOffset spreads where nodes start looking for free partitions,
// so nodes joining together seldom race for the same ones.
func partitionOffset(instance string, partitions int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(instance))
	return int(h.Sum32() % uint32(partitions))
}
