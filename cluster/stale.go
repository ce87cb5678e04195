package cluster

import (
	"context"
	"fmt"
	"time"
)

// A dead node's leases are freed by JetStream: the leases bucket's max age
// is the lease TTL, and the stream leader writes a delete marker when an
// entry expires. But when the leader dies too (a machine that ran a NATS
// server and a weft node), the new leader only runs its expiry some
// seconds after its election: measured 17 s after the kill instead of 10,
// past the 15 s PROTOCOL.md section 11 promises. So each node also
// watches the leases itself: one whose revision has not changed for
// longer than the TTL (and a margin), as this node saw it, is taken over
// by compare-and-set on that revision.
//
// That is safe: the holder wrote the revision before this node saw it,
// and stops trusting a lease TTL minus the margin after it sent the
// write (Config.safetyMargin), so by the time the lease is stale here its
// holder has given it up, or is paused and finds it taken at its next
// renewal (a paused holder's late appends are fenced by the store). If
// the holder renewed meanwhile and this node has not seen it yet, the
// compare-and-set fails and nothing changes.

// revSeen is a lease revision and when this node first saw it.
type revSeen struct {
	rev uint64
	at  time.Time
}

// sawRevision notes that partition p's lease is at rev. The time is kept
// through watcher restarts, which deliver the same revision again.
func (l *loop) sawRevision(p int, rev uint64) {
	if l.changed[p].rev != rev {
		l.changed[p] = revSeen{rev: rev, at: time.Now()}
	}
}

// staleAfter is how long a lease may stay unchanged before this node
// takes it over.
func (l *loop) staleAfter() time.Duration {
	return l.n.cfg.LeaseTTL + l.n.cfg.safetyMargin()
}

// staleAt is when partition p's lease goes stale here: it is another
// node's, at the revision this node saw at some moment; false otherwise.
func (l *loop) staleAt(p int) (time.Time, bool) {
	e := l.view[p]
	seen, ok := l.changed[p]
	if !e.held || e.holder.Instance == l.n.self.Instance || !ok || seen.rev != e.rev {
		return time.Time{}, false
	}
	return seen.at.Add(l.staleAfter()), true
}

// stalePartitions lists the partitions another node holds by a lease that
// has not changed for staleAfter.
func (l *loop) stalePartitions(now time.Time) []int {
	var stale []int
	for p := range l.view {
		if at, ok := l.staleAt(p); ok && !now.Before(at) {
			stale = append(stale, p)
		}
	}
	return stale
}

// nextStale is the earliest moment a lease another node holds goes stale.
func (l *loop) nextStale() (time.Time, bool) {
	var first time.Time
	for p := range l.view {
		if at, ok := l.staleAt(p); ok && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// takeOver replaces partition p's stale lease by this node's, provided
// it is still at the revision seen. It returns false on a lost race.
func (l *loop) takeOver(ctx context.Context, p int) (won bool, err error) {
	e := l.view[p]
	l.n.log.Info().Int("partition", p).Str("holder", e.holder.Node).Uint64("revision", e.rev).
		Dur("unchanged_for", time.Since(l.changed[p].at)).Msg("lease not renewed past its TTL and not yet expired by NATS: taking it over")
	return l.claim(ctx, p, func(ctx context.Context) (uint64, error) {
		rev, err := l.n.leases.Update(ctx, leaseKey(p), l.holderValue(), e.rev)
		if err != nil && !isCASConflict(err) {
			err = fmt.Errorf("take over partition %d: %w", p, err)
		}
		return rev, err
	})
}
