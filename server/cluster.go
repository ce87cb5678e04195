package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/cluster"
	"github.com/weft-run/weft/cluster/peers"
)

// ClusterConfig turns on cluster mode (PROTOCOL.md section 11, README
// "Cluster mode"): N nodes on one NATS JetStream cluster. Rooms and
// connections span the nodes and partitions are leased; executions still
// run and are stored on the node that started them.
type ClusterConfig struct {
	// NATSURLs are comma-separated NATS server URLs (weft serve
	// --nats-url). Empty, the default: a single node.
	NATSURLs string
	// CredsFile is a NATS credentials file (--nats-creds; default none).
	CredsFile string
	// NodeID names this node, unique among live nodes (--node-id); shown
	// in server.info, logs (field node) and metrics (label node). Default:
	// the host name and the port of Addr, which must then be fixed.
	NodeID string
	// Replicas of weft's JetStream streams and buckets (--nats-replicas;
	// default 1, 3 in production). Only the node that creates them uses it.
	Replicas int
	// Partitions the executions are spread over (default 64); every node
	// of a cluster must use the same.
	Partitions int
	// PeerTimeout bounds how long a cluster-wide answer (a broadcast's
	// counts, room.members, connections.list) waits for the other nodes
	// before it goes without them, marked partial (default 1 s).
	PeerTimeout time.Duration
	// OrphanCheck is how often a node checks that every unfinished
	// execution of its partitions runs or rests on it, and starts those
	// that do not (default 1 min; negative: never). A backstop: a take-over
	// resumes them all, but a missed one would otherwise wait for the
	// partition to change hands again.
	OrphanCheck time.Duration
}

func (c ClusterConfig) enabled() bool { return c.NATSURLs != "" }

// clusterNode is this server's part of a cluster: its NATS connection,
// its peers for rooms and connections, and, from Start, its membership
// and leases.
type clusterNode struct {
	id    string
	nc    *nats.Conn
	peers *peers.Peers
	node  atomic.Pointer[cluster.Node] // nil until Start
	stop  context.CancelFunc           // ends the node's life without a hand-over
	life  context.Context
	log   zerolog.Logger // component=cluster, node=id
	base  zerolog.Logger // the server's logger before it had node=id

	connected prometheus.Collector
}

// clusterNodeID is ClusterConfig.NodeID, or the host name and the port
// of addr.
func clusterNodeID(cfg Config) (string, error) {
	if cfg.Cluster.NodeID != "" {
		return cfg.Cluster.NodeID, nil
	}
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || port == "" || port == "0" {
		return "", fmt.Errorf("cluster mode: give the node an id (--node-id): the default, host name and port, needs a fixed port in --addr (got %q)", cfg.Addr)
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("cluster mode: no host name for the default node id (give --node-id): %w", err)
	}
	return net.JoinHostPort(host, port), nil
}

// connectCluster connects to NATS, retrying for ever once connected
// (the node keeps its sockets meanwhile and /readyz answers 503), and
// readies the peers. The first connection must succeed: a wrong URL or
// credentials file fails the start.
func (s *Server) connectCluster(id string) (*clusterNode, error) {
	cfg := s.cfg.Cluster
	// The cluster package adds component and node to the logger it is
	// given, the peers add their component: each key once per line.
	base := *s.cfg.Logger
	c := &clusterNode{id: id, base: base, log: base.With().Str("component", "cluster").Str("node", id).Logger()}
	opts := []nats.Option{
		nats.Name(id),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			c.log.Warn().Err(err).Msg("NATS connection lost: reconnecting; /readyz answers 503 meanwhile, sockets stay open")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("NATS connection back")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := c.log.Warn().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("NATS")
		}),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	nc, err := nats.Connect(cfg.NATSURLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster mode: connect to NATS at %s: %w", cfg.NATSURLs, err)
	}
	c.nc = nc
	c.peers, err = peers.New(nc, peers.Config{NodeID: id, Nodes: c.members, Timeout: cfg.PeerTimeout,
		Registerer: s.metrics.Registry, Logger: &s.log})
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.connected = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_cluster_nats_connected",
		Help: "1 while this node has a NATS connection (/readyz answers 503 without).", ConstLabels: prometheus.Labels{"node": id}},
		func() float64 {
			if nc.IsConnected() {
				return 1
			}
			return 0
		})
	if err := s.metrics.Registry.Register(c.connected); err != nil {
		c.peers.Close()
		nc.Close()
		return nil, fmt.Errorf("cluster mode: register metrics: %w", err)
	}
	c.life, c.stop = context.WithCancel(context.Background())
	return c, nil
}

// members lists the live nodes (the peers wait for their answers). Before
// Start it is this node alone.
func (c *clusterNode) members() []string {
	node := c.node.Load()
	if node == nil {
		return []string{c.id}
	}
	ms := node.Members()
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

// servePeers answers the other nodes' requests for this node's rooms and
// connections.
func (c *clusterNode) servePeers(svc *actors.Service) error { return c.peers.Serve(svc) }

// join makes this node a member: its heartbeat, then its share of the
// partitions. The node lives until leave (a hand-over) or close.
func (c *clusterNode) join(ctx context.Context, cfg ClusterConfig, addr string, reg prometheus.Registerer, h cluster.Handler) error {
	// A start that is given up ends the join, not the node's life after it.
	stop := context.AfterFunc(ctx, c.stop)
	defer stop()
	js, err := jetstream.New(c.nc)
	if err != nil {
		return fmt.Errorf("cluster mode: JetStream: %w", err)
	}
	node, err := cluster.Join(c.life, js, cluster.Config{
		NodeID: c.id, Address: addr, Partitions: cfg.Partitions, Replicas: cfg.Replicas,
		Registerer: reg, Logger: &c.base,
	}, h)
	if err != nil {
		return fmt.Errorf("cluster mode: join: %w", err)
	}
	c.node.Store(node)
	c.log.Info().Int("partitions", node.Partitions()).Int("members", len(node.Members())).Msg("joined the cluster")
	return nil
}

// unready says why this node should get no traffic, or "".
func (c *clusterNode) unready() string {
	if !c.nc.IsConnected() {
		return "no NATS connection"
	}
	if node := c.node.Load(); node != nil {
		select {
		case <-node.Done():
			return fmt.Sprintf("the node left the cluster: %v", node.Err())
		default:
		}
	}
	return ""
}

// handOverTimeout bounds a graceful hand-over: a few KV writes, which
// take milliseconds when NATS is there.
const handOverTimeout = 5 * time.Second

// leave hands this node's partitions over at once (graceful shutdown).
// Without a NATS connection it does not try: the writes would wait for
// one until the shutdown's deadline, and the leases expire by themselves
// LeaseTTL after their last renewal. A failed hand-over is logged, not
// the shutdown's error, for the same reason.
func (c *clusterNode) leave(ctx context.Context) {
	node := c.node.Load()
	if node == nil {
		return
	}
	if !c.nc.IsConnected() {
		c.log.Warn().Msg("no NATS connection at shutdown: this node's partitions are freed when their leases expire")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, handOverTimeout)
	defer cancel()
	if err := node.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		c.log.Warn().Err(err).Msg("partitions not all handed over: the rest are freed when their leases expire")
		return
	}
	c.log.Info().Msg("partitions handed over")
}

// close stops answering the other nodes and closes the NATS connection,
// after what is queued on it is sent.
func (c *clusterNode) close(reg prometheus.Registerer) {
	c.peers.Close()
	c.stop()
	if node := c.node.Load(); node != nil {
		<-node.Done()
	}
	reg.Unregister(c.connected)
	_ = c.nc.FlushTimeout(time.Second)
	c.nc.Close()
}
