package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft"
)

// Handler is told when this node gains and loses partitions. Its methods
// are called one at a time, in order, from the node's goroutine, and must
// return promptly: the same goroutine renews the leases.
type Handler interface {
	// Acquired: this node holds partition p from now on, fenced by token
	// t. Resume the partition's executions from their histories.
	Acquired(p int, t Token)
	// Lost: this node no longer holds partition p (see LossReason). Stop
	// its executions before returning: after a Released loss the lease is
	// deleted as soon as Lost returns, and another node may resume them at
	// once; after the other reasons another node may already have.
	Lost(p int, reason LossReason)
}

// ErrDuplicateNode is returned by Join when another live node already uses
// this node id, and is Err of a node whose id another process took over.
var ErrDuplicateNode = errors.New("cluster: node id already in use by a live node")

// Node is this process as a member of the cluster: its heartbeat in the
// nodes bucket, and the partition leases it holds. Join starts it; one
// goroutine owns it until the context given to Join ends (a stop without
// release, what a crash looks like from the cluster) or Shutdown (a
// graceful hand-over). Its methods are safe for concurrent use.
type Node struct {
	cfg     Config
	handler Handler
	leases  jetstream.KeyValue
	nodes   jetstream.KeyValue
	nc      *nats.Conn
	self    Member
	metrics *nodeMetrics
	log     zerolog.Logger

	shutdownCh chan shutdownRequest
	done       chan struct{}

	mu      sync.Mutex
	owned   map[int]*lease    // written by the owner goroutine only
	members map[string]Member // by nodes-bucket key; written by the owner goroutine only
	err     error             // why the node stopped; set before done closes
}

// lease is a partition this node holds.
type lease struct {
	token    Token     // the revision that acquired it
	rev      uint64    // the revision of the latest renewal
	deadline time.Time // when this node stops trusting it without a renewal
}

type shutdownRequest struct {
	ctx   context.Context
	reply chan error
}

// Join registers this node in the cluster and starts its owner goroutine,
// which takes a fair share of the partitions and calls h as it gains and
// loses them. It refuses a node whose partition count or lease TTL differs
// from the cluster's (ErrConfigMismatch) and a node id another live node
// uses (ErrDuplicateNode). When the id's heartbeat is present but may be a
// crashed earlier run's, Join watches it for two renew intervals before
// taking it over, so a restart right after a crash waits about 7 s.
//
// ctx bounds both the start and the node's life: when it ends, the node
// stops at once and releases nothing (its leases expire after LeaseTTL);
// Shutdown is the graceful stop.
func Join(ctx context.Context, js jetstream.JetStream, cfg Config, h Handler) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	leases, nodes, err := openBuckets(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, handler: h, leases: leases, nodes: nodes, nc: js.Conn(),
		self:       Member{ID: cfg.NodeID, Address: cfg.Address, StartedAt: time.Now().UTC(), Instance: weft.NewID("inst_")},
		log:        logger(cfg),
		shutdownCh: make(chan shutdownRequest),
		done:       make(chan struct{}),
		owned:      map[int]*lease{},
		members:    map[string]Member{},
	}
	if n.metrics, err = newNodeMetrics(cfg.Registerer, cfg.NodeID, n.nc); err != nil {
		return nil, fmt.Errorf("cluster: register metrics: %w", err)
	}
	hbRev, err := n.register(ctx)
	if err != nil {
		n.metrics.unregister()
		return nil, err
	}
	l := newLoop(n, hbRev)
	go n.run(ctx, l)
	return n, nil
}

func logger(cfg Config) zerolog.Logger {
	if cfg.Logger == nil {
		return zerolog.Nop()
	}
	return cfg.Logger.With().Str("component", "cluster").Str("node", cfg.NodeID).Logger()
}

// Self is this node's own heartbeat record.
func (n *Node) Self() Member { return n.self }

// Partitions is the cluster's partition count.
func (n *Node) Partitions() int { return n.cfg.Partitions }

// Owned returns the partitions this node holds, with their tokens.
func (n *Node) Owned() map[int]Token {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[int]Token, len(n.owned))
	for p, l := range n.owned {
		out[p] = l.token
	}
	return out
}

// Holds reports whether this node holds partition p under token t and the
// lease is still within its deadline. Check it before acting for a
// partition: it turns false the moment the lease can no longer be trusted,
// even if the owner goroutine is late to notice (a paused process).
func (n *Node) Holds(p int, t Token) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.owned[p]
	return l != nil && l.token == t && time.Now().Before(l.deadline)
}

// Members returns the live nodes, by id.
func (n *Node) Members() []Member {
	n.mu.Lock()
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		out = append(out, m)
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Done is closed when the node has stopped (Shutdown, the end of Join's
// context, its id taken over, or its NATS connection closed for good);
// Err then says why.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is nil while the node runs and after a clean Shutdown.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// Shutdown hands this node's partitions over at once: it removes its
// heartbeat, then for each partition calls Handler.Lost(p, Released) and
// deletes the lease (compare-and-set on its revision), so other nodes take
// them without waiting for the TTL. Leases it cannot delete (no
// connection) expire after LeaseTTL. Calling it again, or after the node
// stopped, returns why the node stopped.
func (n *Node) Shutdown(ctx context.Context) error {
	req := shutdownRequest{ctx: ctx, reply: make(chan error, 1)}
	select {
	case n.shutdownCh <- req:
	case <-n.done:
		return n.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		<-n.done
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *Node) setErr(err error) {
	n.mu.Lock()
	n.err = err
	n.mu.Unlock()
}
