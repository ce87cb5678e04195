package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Timing defaults. A dead node's partitions are free at most LeaseTTL after
// its last renewal; the survivors take them on the expiry marker (or on
// their next tick, RenewInterval later at worst): 10 + 3 = 13 s, inside
// the 15 s PROTOCOL.md section 11 promises. Renewing at TTL/3 survives two
// lost renewals in a row (a leader election, a slow disk) before a lease
// is in danger.
const (
	DefaultLeaseTTL      = 10 * time.Second
	DefaultRenewInterval = 3 * time.Second
)

// maxNodeIDLen bounds a node id (it becomes a KV key, see nodeKey).
const maxNodeIDLen = 200

// Config configures a Node. The zero value of every field but NodeID
// works.
type Config struct {
	// NodeID names this node; unique among live nodes (a second live node
	// with the same id is refused). Shown in logs and the node metric label.
	NodeID string
	// Address is where other nodes and operators can reach this node
	// (informational, shown by Members).
	Address string
	// Partitions is the fixed number of partitions (default 64). It is
	// written into the leases bucket by the first node, and a node
	// configured differently is refused: changing it would move executions
	// between partitions under the feet of their owners.
	Partitions int
	// LeaseTTL is how long a lease (and a heartbeat) lives without renewal
	// (default 10 s). It is the buckets' max age, so like Partitions it
	// must be the same on every node.
	LeaseTTL time.Duration
	// RenewInterval is how often leases and the heartbeat are renewed
	// (default 3 s); at most a third of LeaseTTL.
	RenewInterval time.Duration
	// Replicas of the leases and nodes buckets (default 1; 3 in production).
	// Only used by the node that creates the buckets.
	Replicas int
	// Registerer receives the node's metrics, labelled node=NodeID
	// (default: none). They are unregistered when the node stops.
	Registerer prometheus.Registerer
	// Logger receives the node's logs (default: none).
	Logger *zerolog.Logger
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = DefaultRenewInterval
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	if c.NodeID == "" || len(c.NodeID) > maxNodeIDLen {
		errs = append(errs, fmt.Errorf("node id must be 1 to %d bytes, got %d", maxNodeIDLen, len(c.NodeID)))
	}
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		errs = append(errs, fmt.Errorf("partitions must be 1 to %d, got %d", MaxPartitions, c.Partitions))
	}
	if c.LeaseTTL < time.Second {
		// The buckets' expiry markers live for LeaseTTL, and JetStream
		// refuses marker TTLs under a second.
		errs = append(errs, fmt.Errorf("lease TTL must be at least 1s, got %s", c.LeaseTTL))
	}
	if c.RenewInterval <= 0 || 3*c.RenewInterval > c.LeaseTTL {
		errs = append(errs, fmt.Errorf("renew interval must be positive and at most a third of the lease TTL (%s), got %s", c.LeaseTTL, c.RenewInterval))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas must be 1 to 5, got %d", c.Replicas))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cluster: invalid config: %w", err)
	}
	return nil
}

// safetyMargin is how much earlier than the server this node gives up a
// lease it could not renew. The server counts the TTL from when it stored
// the renewal, which is after this node sent it, so the node's deadline
// (send time + TTL - margin) always falls before the server's expiry; the
// margin absorbs clock-rate differences and the time the handler takes
// to stop its executions.
func (c Config) safetyMargin() time.Duration { return c.LeaseTTL / 10 }
