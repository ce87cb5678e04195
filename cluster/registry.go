package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// register writes this node's heartbeat, refusing an id a live node uses.
// A heartbeat already there is either a live node's (it is renewed every
// RenewInterval) or the remains of a crashed run with the same id (nobody
// renews it, it expires within LeaseTTL). register tells them apart by
// watching its revision for two renew intervals, then takes a stale one
// over with compare-and-set.
func (n *Node) register(ctx context.Context) (uint64, error) {
	key, val := nodeKey(n.self.ID), mustEncode(n.self)
	for {
		rev, err := n.nodes.Create(ctx, key, val)
		if err == nil {
			return rev, nil
		}
		if !isCASConflict(err) {
			return 0, fmt.Errorf("cluster: register node %q: %w", n.self.ID, err)
		}
		rev, err = n.takeOverStale(ctx, key, val)
		if err != nil || rev != 0 {
			return rev, err
		}
		// The old heartbeat expired while we watched: create ours.
	}
}

// takeOverStale watches an existing heartbeat for the id. It returns
// ErrDuplicateNode if the heartbeat is renewed, 0 if it disappears, and
// the new revision once it has taken over a heartbeat nobody renewed.
func (n *Node) takeOverStale(ctx context.Context, key string, val []byte) (uint64, error) {
	first, err := n.nodes.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cluster: register node %q: %w", n.self.ID, err)
	}
	n.log.Info().Msg("a heartbeat with this node id exists: waiting to see whether a live node renews it")
	watchFor := 2*n.cfg.RenewInterval + n.cfg.RenewInterval/2
	tick := time.NewTicker(n.cfg.RenewInterval / 4)
	defer tick.Stop()
	for end := time.Now().Add(watchFor); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
		e, err := n.nodes.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("cluster: register node %q: %w", n.self.ID, err)
		case e.Revision() != first.Revision():
			return 0, duplicateError(n.self.ID, e.Value())
		}
	}
	rev, err := n.nodes.Update(ctx, key, val, first.Revision())
	if isCASConflict(err) {
		return 0, duplicateError(n.self.ID, first.Value())
	}
	if err != nil {
		return 0, fmt.Errorf("cluster: register node %q: %w", n.self.ID, err)
	}
	n.log.Warn().Msg("took over the heartbeat of an earlier run of this node id that stopped renewing it")
	return rev, nil
}

func duplicateError(id string, other []byte) error {
	m, err := decodeMember(other)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrDuplicateNode, id)
	}
	return fmt.Errorf("%w: %q is live at %q since %s (instance %s); give each node its own --node-id",
		ErrDuplicateNode, id, m.Address, m.StartedAt.Format(time.RFC3339), m.Instance)
}

// heartbeat renews this node's heartbeat (compare-and-set on its last
// revision). A mismatch means the entry changed under us: it expired
// while we were cut off (write it again) or another run took our id over
// (fatal: return ErrDuplicateNode).
func (l *loop) heartbeat(ctx context.Context) error {
	n := l.n
	key, val := nodeKey(n.self.ID), mustEncode(n.self)
	rev, err := n.nodes.Update(ctx, key, val, l.hbRev)
	if err == nil {
		l.hbRev = rev
		return nil
	}
	if !isCASConflict(err) {
		n.log.Warn().Err(err).Msg("heartbeat not renewed")
		return nil
	}
	e, err := n.nodes.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if rev, err = n.nodes.Create(ctx, key, val); err == nil {
			l.hbRev = rev
		}
		return nil // a conflict here is judged on the next beat
	case err != nil:
		return nil
	}
	if m, err := decodeMember(e.Value()); err == nil && m.Instance == n.self.Instance {
		l.hbRev = e.Revision() // our own write whose answer was lost
		return nil
	}
	return duplicateError(n.self.ID, e.Value())
}

// deregister removes this node's heartbeat, so the others count one node
// fewer before its leases come free.
func (l *loop) deregister(ctx context.Context) error {
	err := l.n.nodes.Delete(ctx, nodeKey(l.n.self.ID), jetstream.LastRevision(l.hbRev))
	if err != nil {
		return fmt.Errorf("cluster: remove heartbeat: %w", err)
	}
	return nil
}

// isCASConflict reports a compare-and-set refused because the key's
// revision is not the one expected (Create of an existing key included).
// Replicated streams report it with another code than single-replica ones.
func isCASConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
