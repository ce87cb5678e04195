package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// rebalance moves this node towards its fair share, ceil(P / live nodes):
//   - over its share while another live node holds fewer than floor(P /
//     live nodes), it releases the excess (a node joined);
//   - under its share, it acquires free partitions;
//   - a partition free for a whole renew interval is taken whatever the
//     share: an orphan (while the members list still counts a dead node)
//     is worse than an imbalance, which the next rebalance corrects;
//     one whose last holder no longer beats (its lease expired) is taken
//     at once, and so is one whose lease stayed unchanged past the TTL
//     (stale.go);
//   - a lease that names this run but that it does not hold (a late
//     write, or one it gave up locally before the server expired it) is
//     deleted, so that it does not block the partition until it expires.
//
// It stops when the next renewal round is due, and goes on after it:
// acquiring many partitions (the first node of a cluster takes all 64)
// must not hold off the renewal of the ones already taken.
func (l *loop) rebalance(ctx context.Context, now time.Time) {
	if !now.Before(l.nextRenew) || !l.n.nc.IsConnected() {
		return
	}
	ctx, cancel := l.opContext(ctx)
	defer cancel()
	ctx, cancelBudget := context.WithDeadline(ctx, l.nextRenew)
	defer cancelBudget()
	l.deleteStrays(ctx)
	share, floor := l.shares()
	owned := len(l.ownedPartitions())
	if owned > share && l.someoneBelow(floor, now) {
		l.releaseExcess(ctx, owned-share)
		return
	}
	for _, p := range l.stalePartitions(now) {
		won, err := l.takeOver(ctx, p)
		if err != nil {
			l.interrupted(ctx, err)
			return
		}
		if !won {
			return
		}
		owned++
	}
	grace := l.n.cfg.RenewInterval
	for _, p := range l.freePartitions() {
		e := l.view[p]
		orphan := now.Sub(e.freeSince) >= grace || l.deadHolder(e.prev, now)
		if owned >= share && !orphan {
			continue
		}
		won, err := l.acquire(ctx, p)
		if err != nil {
			l.interrupted(ctx, err)
			return
		}
		if !won {
			return // the view is behind: its watcher brings the change, and another rebalance
		}
		owned++
	}
}

// shares are ceil and floor of P over the live nodes (this one counted
// even while its own heartbeat is missing from the view).
func (l *loop) shares() (share, floor int) {
	n := l.n
	n.mu.Lock()
	live := len(n.members)
	if _, self := n.members[nodeKey(n.self.ID)]; !self {
		live++
	}
	n.mu.Unlock()
	p := n.cfg.Partitions
	return (p + live - 1) / live, p / live
}

// someoneBelow reports whether another node that beats holds fewer than
// floor partitions, by the view. A member whose heartbeat has not changed
// for two renew intervals is likely dead (its entry not yet expired):
// releasing partitions towards it would only orphan them.
func (l *loop) someoneBelow(floor int, now time.Time) bool {
	held := map[string]int{}
	for _, e := range l.view {
		if e.held {
			held[e.holder.Instance]++
		}
	}
	n := l.n
	n.mu.Lock()
	defer n.mu.Unlock()
	for key, m := range n.members {
		if m.Instance != n.self.Instance && l.beating(key, now) && held[m.Instance] < floor {
			return true
		}
	}
	return false
}

// deadHolder reports whether h, the last holder of a partition now free,
// is a node that no longer beats: its lease expired rather than being
// handed over, and its executions wait for whoever takes it first. (A
// node below its share gets a grace period to take a partition handed
// over, so that the others need not release again.)
func (l *loop) deadHolder(h holder, now time.Time) bool {
	if h.Instance == "" || h.Instance == l.n.self.Instance {
		return false
	}
	n := l.n
	n.mu.Lock()
	defer n.mu.Unlock()
	for key, m := range n.members {
		if m.Instance == h.Instance {
			return !l.beating(key, now)
		}
	}
	return true
}

// beating reports whether the member at key changed its heartbeat in the
// last two renew intervals; one that has not is likely dead, its entry not
// yet expired.
func (l *loop) beating(key string, now time.Time) bool {
	return now.Sub(l.beats[key]) <= 2*l.n.cfg.RenewInterval
}

// releaseExcess releases the highest-numbered partitions it holds.
func (l *loop) releaseExcess(ctx context.Context, excess int) {
	ps := l.ownedPartitions()
	for i := len(ps) - 1; i >= 0 && excess > 0 && ctx.Err() == nil; i-- {
		if err := l.release(ctx, ps[i]); err != nil {
			l.interrupted(ctx, err)
			return
		}
		excess--
	}
}

// freePartitions lists the partitions nobody holds, by the view, starting
// at this run's offset.
func (l *loop) freePartitions() []int {
	parts := l.n.cfg.Partitions
	start := partitionOffset(l.n.self.Instance, parts)
	var free []int
	for i := range parts {
		p := (start + i) % parts
		if e, ok := l.view[p]; !ok || !e.held {
			if !ok {
				l.view[p] = viewEntry{freeSince: time.Now()} // never written: free since we know
			}
			free = append(free, p)
		}
	}
	return free
}

// deleteStrays deletes leases that name this run but are not held.
func (l *loop) deleteStrays(ctx context.Context) {
	for p, e := range l.view {
		if !e.held || e.holder.Instance != l.n.self.Instance {
			continue
		}
		if _, ok := l.ownedLease(p); ok {
			continue
		}
		err := l.n.leases.Delete(ctx, leaseKey(p), jetstream.LastRevision(e.rev))
		if err != nil && !isCASConflict(err) {
			l.interrupted(ctx, fmt.Errorf("delete stray lease of partition %d: %w", p, err))
			return
		}
		l.view[p] = viewEntry{rev: e.rev, freeSince: time.Now()}
	}
}

// interrupted logs why a rebalance stopped early: its own time budget
// (it goes on after the renewals) is not worth a warning.
func (l *loop) interrupted(ctx context.Context, err error) {
	if ctx.Err() != nil && l.n.nc.IsConnected() {
		l.n.log.Debug().Err(err).Msg("rebalance paused for the renewals")
		return
	}
	l.n.log.Warn().Err(err).Msg("rebalance interrupted")
}
