package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// errConnClosed stops a node whose NATS connection was closed for good
// (nats.go gave up reconnecting, or the application closed it).
var errConnClosed = errors.New("cluster: the NATS connection is closed")

// resyncEvery: every so many renew rounds the watchers are started again
// from the buckets' current state, a backstop against a missed update
// (and done at once after a reconnect).
const resyncEvery = 10

// loop is the state of a node's owner goroutine; nothing else touches it.
type loop struct {
	n     *Node
	hbRev uint64 // revision of our heartbeat

	view         map[int]viewEntry    // every partition's holder, as the watcher says
	changed      map[int]revSeen      // stale.go: when each held lease last changed, as seen here
	beats        map[string]time.Time // when each member's heartbeat last changed, by key
	leaseW       jetstream.KeyWatcher
	nodeW        jetstream.KeyWatcher
	leasesSynced bool // the lease watcher delivered the bucket's current state
	nodesSynced  bool
	status       chan nats.Status

	nextRenew time.Time
	rounds    int
	fatal     error
}

// viewEntry is what the lease watcher last said about a partition.
type viewEntry struct {
	held      bool
	holder    holder // when held; zero if the value was unreadable
	rev       uint64
	freeSince time.Time // when !held
	// prev held the partition before it was freed, when the view knew
	// (zero otherwise): a dead holder's partition needs no grace.
	prev holder
}

func newLoop(n *Node, hbRev uint64) *loop {
	return &loop{n: n, hbRev: hbRev, view: map[int]viewEntry{}, changed: map[int]revSeen{}, beats: map[string]time.Time{}, nextRenew: time.Now()}
}

func (n *Node) run(ctx context.Context, l *loop) {
	defer close(n.done)
	defer n.metrics.unregister()
	l.status = n.nc.StatusChanged(nats.CONNECTED, nats.CLOSED)
	defer n.nc.RemoveStatusListener(l.status)
	defer l.stopWatchers()
	l.startWatchers(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			l.dropAll(Stopped)
			n.setErr(ctx.Err())
			return
		case req := <-n.shutdownCh:
			req.reply <- l.shutdown(req.ctx)
			return
		case e, ok := <-l.leaseUpdates():
			l.onLeaseUpdate(e, ok)
			l.drainUpdates()
		case e, ok := <-l.nodeUpdates():
			l.onNodeUpdate(e, ok)
			l.drainUpdates()
		case st, ok := <-l.status:
			if !ok || st == nats.CLOSED || n.nc.IsClosed() {
				l.fatal = errConnClosed
				break
			}
			// Reconnected: the view may have missed changes, and the
			// leases want renewing before their deadlines.
			l.restartWatchers(ctx)
			l.nextRenew = time.Now()
		case <-timer.C:
		}
		if l.fatal == nil {
			l.step(ctx, time.Now())
		}
		if l.fatal != nil {
			n.log.Error().Err(l.fatal).Msg("node stops")
			l.dropAll(Stopped)
			n.setErr(l.fatal)
			return
		}
		timer.Reset(l.wait(time.Now()))
	}
}

// step does what is due: drop leases past their deadline, renew, and
// rebalance once the view is complete.
func (l *loop) step(ctx context.Context, now time.Time) {
	l.expireOverdue(now)
	if !now.Before(l.nextRenew) {
		l.renewRound(ctx)
		l.expireOverdue(time.Now()) // the round may have waited on a dead connection
		l.nextRenew = now.Add(l.n.cfg.RenewInterval)
		if l.rounds++; l.rounds%resyncEvery == 0 || l.leaseW == nil || l.nodeW == nil {
			l.restartWatchers(ctx)
		}
	}
	if l.fatal == nil && l.leasesSynced && l.nodesSynced {
		l.rebalance(ctx, time.Now())
	}
}

// renewRound renews the heartbeat and every lease. Without a connection
// it does nothing: nats.go would buffer the writes and send them after a
// reconnect, late; the reconnect starts a round at once instead.
func (l *loop) renewRound(ctx context.Context) {
	if !l.n.nc.IsConnected() {
		return
	}
	ctx, cancel := l.opContext(ctx)
	defer cancel()
	if err := l.heartbeat(ctx); err != nil {
		l.fatal = err
		return
	}
	l.renewAll(ctx)
}

// opContext bounds a round of KV operations by a renew interval and by
// the earliest lease deadline: with NATS unreachable each operation waits
// for its context, and the loop must be free to give up a lease on time.
func (l *loop) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	end := time.Now().Add(l.n.cfg.RenewInterval)
	if d, ok := l.earliestDeadline(); ok && d.Before(end) {
		end = d
	}
	return context.WithDeadline(ctx, end)
}

func (l *loop) earliestDeadline() (time.Time, bool) {
	l.n.mu.Lock()
	defer l.n.mu.Unlock()
	var first time.Time
	for _, ls := range l.n.owned {
		if first.IsZero() || ls.deadline.Before(first) {
			first = ls.deadline
		}
	}
	return first, !first.IsZero()
}

// wait is how long the loop may sleep: until the next renewal, the
// earliest lease deadline or the moment another node's lease goes stale,
// whichever comes first.
func (l *loop) wait(now time.Time) time.Duration {
	next := l.nextRenew
	if d, ok := l.earliestDeadline(); ok && d.Before(next) {
		next = d
	}
	if d, ok := l.nextStale(); ok && d.Before(next) {
		next = d
	}
	return max(next.Sub(now), 0)
}

func (l *loop) leaseUpdates() <-chan jetstream.KeyValueEntry {
	if l.leaseW == nil {
		return nil
	}
	return l.leaseW.Updates()
}

func (l *loop) nodeUpdates() <-chan jetstream.KeyValueEntry {
	if l.nodeW == nil {
		return nil
	}
	return l.nodeW.Updates()
}

// startWatchers watches both buckets from their current state. A watcher
// that cannot start now is retried on the next renew round.
func (l *loop) startWatchers(ctx context.Context) {
	var err error
	if l.leaseW == nil {
		clear(l.view)
		l.leasesSynced = false
		if l.leaseW, err = l.n.leases.WatchAll(ctx); err != nil {
			l.leaseW = nil
			l.n.log.Warn().Err(err).Msg("cannot watch the leases bucket")
		}
	}
	if l.nodeW == nil {
		l.n.mu.Lock()
		clear(l.n.members)
		l.n.mu.Unlock()
		clear(l.beats)
		l.nodesSynced = false
		if l.nodeW, err = l.n.nodes.WatchAll(ctx); err != nil {
			l.nodeW = nil
			l.n.log.Warn().Err(err).Msg("cannot watch the nodes bucket")
		}
	}
}

func (l *loop) stopWatchers() {
	for _, w := range []*jetstream.KeyWatcher{&l.leaseW, &l.nodeW} {
		if *w != nil {
			_ = (*w).Stop() // fails only if the connection is closed, which ends it too
			*w = nil
		}
	}
}

func (l *loop) restartWatchers(ctx context.Context) {
	l.stopWatchers()
	l.startWatchers(ctx)
}

// drainUpdates applies the updates already waiting, so that a rebalance
// decides on the freshest view instead of racing for partitions whose
// change is still queued (each failed race costs round trips).
func (l *loop) drainUpdates() {
	for range maxDrain {
		select {
		case e, ok := <-l.leaseUpdates():
			l.onLeaseUpdate(e, ok)
		case e, ok := <-l.nodeUpdates():
			l.onNodeUpdate(e, ok)
		default:
			return
		}
	}
}

// maxDrain bounds one drain, so that a flood of updates cannot hold off
// renewals.
const maxDrain = 4 * MaxPartitions

// onLeaseUpdate applies one lease change to the view. A nil entry marks
// the end of the initial state; a closed channel (the connection closed
// the subscription) drops the watcher until the next renew round.
func (l *loop) onLeaseUpdate(e jetstream.KeyValueEntry, ok bool) {
	switch {
	case !ok:
		l.leaseW, l.leasesSynced = nil, false
		return
	case e == nil:
		l.leasesSynced = true
		return
	}
	p, valid := parseLeaseKey(e.Key(), l.n.cfg.Partitions)
	if !valid || e.Revision() < l.view[p].rev {
		return // not a lease key, or older than what we know
	}
	if e.Operation() != jetstream.KeyValuePut {
		l.view[p] = viewEntry{rev: e.Revision(), freeSince: time.Now(), prev: l.view[p].holder}
		delete(l.changed, p)
		return
	}
	l.sawRevision(p, e.Revision())
	h, err := decodeHolder(e.Value())
	if err != nil {
		l.n.log.Warn().Err(err).Str("key", e.Key()).Msg("unreadable lease: the partition waits for it to expire")
	}
	l.view[p] = viewEntry{held: true, holder: h, rev: e.Revision()}
	if h.Instance != l.n.self.Instance {
		l.loseIfOwned(p, Taken) // someone else wrote it: ours is gone
	}
}

// onNodeUpdate applies one heartbeat change to the members list.
func (l *loop) onNodeUpdate(e jetstream.KeyValueEntry, ok bool) {
	switch {
	case !ok:
		l.nodeW, l.nodesSynced = nil, false
		return
	case e == nil:
		l.nodesSynced = true
		return
	}
	n := l.n
	n.mu.Lock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(n.members, e.Key())
		delete(l.beats, e.Key())
	} else if m, err := decodeMember(e.Value()); err == nil && e.Key() == nodeKey(m.ID) {
		n.members[e.Key()] = m
		l.beats[e.Key()] = time.Now()
	}
	count := len(n.members)
	n.mu.Unlock()
	n.metrics.members.Set(float64(count))
}

// shutdown is the graceful stop: heartbeat first, then every lease.
func (l *loop) shutdown(ctx context.Context) error {
	l.stopWatchers()
	errs := []error{l.deregister(ctx)}
	for _, p := range l.ownedPartitions() {
		errs = append(errs, l.release(ctx, p))
	}
	err := errors.Join(errs...)
	l.n.setErr(err)
	return err
}
