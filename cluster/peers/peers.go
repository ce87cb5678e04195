package peers

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft/actors"
)

// DefaultTimeout bounds how long a request waits for the other nodes. A
// node answers from memory in well under a millisecond; one that has not
// answered in a second is gone or cut off (its heartbeat lives up to
// 10 s after its last renewal), and the answer goes without it.
const DefaultTimeout = time.Second

// presenceQueue bounds the presence changes waiting to be published.
const presenceQueue = 4096

// Config configures Peers. NodeID and Nodes are required.
type Config struct {
	// NodeID is this node's id, as in the cluster's membership.
	NodeID string
	// Nodes lists the live nodes' ids, this one's included
	// (cluster.Node.Members): the nodes a request waits for.
	Nodes func() []string
	// Timeout bounds a request (default DefaultTimeout), and this node's
	// handling of another's.
	Timeout time.Duration
	// Registerer receives the metrics, labelled node=NodeID (default:
	// none). They are unregistered by Close.
	Registerer prometheus.Registerer
	// Logger receives the logs (default: none).
	Logger *zerolog.Logger
}

// Local is this node's side: what Peers calls when another node asks.
// actors.Service implements it; none of its methods reaches other nodes.
type Local interface {
	LocalBroadcast(ctx context.Context, m actors.RoomMessage) (delivered, members int, err error)
	LocalPresence(p actors.PresenceChange)
	LocalRoomSize(ctx context.Context, workspace, room string) (int, error)
	LocalMembers(ctx context.Context, workspace, room string) ([]actors.MemberInfo, error)
	LocalConnections(ctx context.Context, workspace string) ([]actors.ConnectionInfo, error)
	LocalToConnection(ctx context.Context, workspace, id string, m actors.ConnectionMessage) (bool, error)
}

var (
	_ actors.Peers = (*Peers)(nil)
	_ Local        = (*actors.Service)(nil)
)

// Peers is actors.Peers over core NATS. New starts it able to ask; Serve
// makes it answer too; Close stops both.
type Peers struct {
	nc      *nats.Conn
	cfg     Config
	log     zerolog.Logger
	metrics *peerMetrics

	inbox    string // answers come to <inbox>.<token>
	next     atomic.Uint64
	replySub *nats.Subscription

	presence chan published
	stop     chan struct{}
	stopped  chan struct{} // the presence publisher has returned

	mu       sync.Mutex
	pending  map[string]*call // requests waiting for answers, by token
	subs     []*nats.Subscription
	local    Local
	closed   bool
	handling sync.WaitGroup // requests of other nodes being answered
}

type published struct {
	subject string
	body    []byte
}

// New returns Peers on nc, which can ask the other nodes at once, and
// answers them after Serve.
func New(nc *nats.Conn, cfg Config) (*Peers, error) {
	if cfg.NodeID == "" || cfg.Nodes == nil {
		return nil, fmt.Errorf("peers: a node id and the membership are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	p := &Peers{
		nc: nc, cfg: cfg, log: logger(cfg),
		inbox:    nc.NewInbox(),
		presence: make(chan published, presenceQueue),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
		pending:  map[string]*call{},
	}
	var err error
	if p.metrics, err = newMetrics(cfg.Registerer, cfg.NodeID); err != nil {
		return nil, fmt.Errorf("peers: register metrics: %w", err)
	}
	if p.replySub, err = nc.Subscribe(p.inbox+".*", p.onAnswer); err != nil {
		p.metrics.unregister()
		return nil, fmt.Errorf("peers: subscribe to answers: %w", err)
	}
	go p.publishPresence()
	return p, nil
}

func logger(cfg Config) zerolog.Logger {
	if cfg.Logger == nil {
		return zerolog.Nop()
	}
	return cfg.Logger.With().Str("component", "peers").Logger()
}

// Serve answers the other nodes' requests with local, from now until
// Close.
func (p *Peers) Serve(local Local) error {
	if err := p.subscribe(local); err != nil {
		return err
	}
	// The subscriptions are in place on the server before this node
	// joins the membership that tells the others to wait for it.
	if err := p.nc.FlushTimeout(p.cfg.Timeout); err != nil {
		p.log.Warn().Err(err).Msg("subscriptions not confirmed by the NATS server; they are sent on reconnect")
	}
	return nil
}

func (p *Peers) subscribe(local Local) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.local != nil {
		return fmt.Errorf("peers: Serve after Close or twice")
	}
	p.local = local
	for _, subject := range []string{roomSubjects, workspaceSubjects} {
		sub, err := p.nc.Subscribe(subject, p.handle)
		if err != nil {
			return fmt.Errorf("peers: subscribe to %s: %w", subject, err)
		}
		p.subs = append(p.subs, sub)
	}
	return nil
}

// Close ends the subscriptions, waits for the requests being answered and
// unregisters the metrics. Requests still waiting for answers end with
// the nodes missing. It is idempotent.
func (p *Peers) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	subs := p.subs
	p.mu.Unlock()
	for _, sub := range append(subs, p.replySub) {
		_ = sub.Unsubscribe()
	}
	close(p.stop)
	<-p.stopped
	p.handling.Wait()
	p.metrics.unregister()
}

// Node is this node's id.
func (p *Peers) Node() string { return p.cfg.NodeID }

// others are the live nodes this node waits for.
func (p *Peers) others() []string {
	nodes := slices.Clone(p.cfg.Nodes())
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	return slices.DeleteFunc(nodes, func(id string) bool { return id == p.cfg.NodeID })
}

// Broadcast implements actors.Peers.
func (p *Peers) Broadcast(m actors.RoomMessage) actors.PeerCall {
	subject := roomSubject(m.Workspace, m.Room)
	if m.Room == "" {
		subject = workspaceSubject(m.Workspace)
	}
	return broadcastCall{p.start(subject, &request{op: opBroadcast, workspace: m.Workspace, room: m.Room,
		from: m.From, identity: m.Identity, message: m.Message})}
}

type broadcastCall struct{ c *call }

func (b broadcastCall) Wait(ctx context.Context) actors.PeerTally {
	var t actors.PeerTally
	t.Missing = b.c.gather(ctx, func(a *reply) bool {
		t.Delivered += a.delivered
		t.Members += a.members
		return false
	})
	return t
}

// Presence implements actors.Peers: the change is queued for the
// publisher goroutine, or dropped (and counted) when the queue is full.
func (p *Peers) Presence(c actors.PresenceChange) {
	q := &request{op: opPresence, sender: p.cfg.NodeID, workspace: c.Workspace, room: c.Room, joined: c.Joined,
		connID: c.ConnectionID, identity: c.Identity, total: c.Total}
	select {
	case p.presence <- published{roomSubject(c.Workspace, c.Room), q.encode()}:
	default:
		p.metrics.dropped.Inc()
	}
}

// publishPresence sends queued presence changes until Close. Without a
// connection they are dropped rather than buffered by nats.go and sent
// late, after a reconnect, about members that may be long gone.
func (p *Peers) publishPresence() {
	defer close(p.stopped)
	for {
		select {
		case <-p.stop:
			return
		case m := <-p.presence:
			if !p.nc.IsConnected() {
				p.metrics.dropped.Inc()
				continue
			}
			if err := p.nc.Publish(m.subject, m.body); err != nil {
				p.metrics.dropped.Inc()
				p.log.Debug().Err(err).Msg("presence change not published")
			}
		}
	}
}

// RoomSize implements actors.Peers.
func (p *Peers) RoomSize(ctx context.Context, workspace, room string) actors.PeerTally {
	var t actors.PeerTally
	c := p.start(roomSubject(workspace, room), &request{op: opRoomSize, workspace: workspace, room: room})
	t.Missing = c.gather(ctx, func(a *reply) bool { t.Members += a.members; return false })
	return t
}

// Members implements actors.Peers.
func (p *Peers) Members(ctx context.Context, workspace, room string) ([]actors.MemberInfo, actors.PeerTally) {
	var out []actors.MemberInfo
	c := p.start(roomSubject(workspace, room), &request{op: opMembers, workspace: workspace, room: room})
	missing := c.gather(ctx, func(a *reply) bool { out = append(out, a.memberList...); return false })
	return out, actors.PeerTally{Members: len(out), Missing: missing}
}

// Connections implements actors.Peers.
func (p *Peers) Connections(ctx context.Context, workspace string) ([]actors.ConnectionInfo, actors.PeerTally) {
	var out []actors.ConnectionInfo
	c := p.start(workspaceSubject(workspace), &request{op: opConnections, workspace: workspace})
	missing := c.gather(ctx, func(a *reply) bool { out = append(out, a.conns...); return false })
	return out, actors.PeerTally{Missing: missing}
}

// ToConnection implements actors.Peers: it asks every node and stops at
// the first that has the connection (connection ids do not say which
// node holds them).
func (p *Peers) ToConnection(ctx context.Context, workspace, id string, m actors.ConnectionMessage) (bool, actors.PeerTally) {
	q := &request{op: opSend, workspace: workspace, connID: id, from: m.From, message: m.Message}
	if m.Close {
		q = &request{op: opClose, workspace: workspace, connID: id, reason: m.Reason}
	}
	found := false
	missing := p.start(workspaceSubject(workspace), q).gather(ctx, func(a *reply) bool {
		found = found || a.found
		return found
	})
	return found, actors.PeerTally{Missing: missing}
}

// call is a request to the other nodes under way.
type call struct {
	p        *Peers
	op       op
	token    string   // "" when nothing was sent
	expected []string // the nodes to hear from
	answers  chan []byte
	deadline time.Time
}

// start sends q to subject, asking every other live node. Without a
// connection nothing is sent (nats.go would send it after a reconnect,
// late) and every node is missing.
func (p *Peers) start(subject string, q *request) *call {
	q.sender = p.cfg.NodeID
	c := &call{p: p, op: q.op, expected: p.others(), deadline: time.Now().Add(p.cfg.Timeout)}
	p.metrics.requests.WithLabelValues(q.op.String()).Inc()
	if len(c.expected) == 0 || !p.nc.IsConnected() {
		return c
	}
	token := strconv.FormatUint(p.next.Add(1), 36)
	c.answers = make(chan []byte, len(c.expected)+4)
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.pending[token] = c
	}
	p.mu.Unlock()
	if closed {
		return c
	}
	if err := p.nc.PublishRequest(subject, p.inbox+"."+token, q.encode()); err != nil {
		p.forget(token)
		p.log.Debug().Err(err).Stringer("op", q.op).Msg("request not sent")
		return c
	}
	c.token = token
	return c
}

func (p *Peers) forget(token string) {
	p.mu.Lock()
	delete(p.pending, token)
	p.mu.Unlock()
}

// onAnswer hands an answer to the request waiting for it, if any (a late
// one finds none). It never blocks: the request's queue has room for an
// answer from every node it waits for.
func (p *Peers) onAnswer(msg *nats.Msg) {
	token := msg.Subject[len(p.inbox)+1:]
	p.mu.Lock()
	c := p.pending[token]
	p.mu.Unlock()
	if c == nil {
		return
	}
	select {
	case c.answers <- msg.Data:
	default:
	}
}

// gather reads answers until every expected node has answered, add asks
// to stop (the answer is complete without the others), the deadline
// passes or ctx ends. It returns the expected nodes that did not answer.
func (c *call) gather(ctx context.Context, add func(*reply) (stop bool)) []string {
	if len(c.expected) == 0 {
		return nil
	}
	answered := make(map[string]bool, len(c.expected))
	if c.token != "" {
		defer c.p.forget(c.token)
		if c.collect(ctx, answered, add) {
			return nil
		}
	}
	var missing []string
	for _, id := range c.expected {
		if !answered[id] {
			missing = append(missing, id)
		}
	}
	c.p.metrics.unanswered.WithLabelValues(c.op.String()).Add(float64(len(missing)))
	return missing
}

// collect reads answers into add; true if add stopped it.
func (c *call) collect(ctx context.Context, answered map[string]bool, add func(*reply) bool) bool {
	left := len(c.expected)
	timer := time.NewTimer(time.Until(c.deadline))
	defer timer.Stop()
	for left > 0 {
		select {
		case data := <-c.answers:
			a, err := decodeReply(c.op, data)
			if err != nil {
				if len(data) > 0 { // an empty one is NATS's "no responders"
					c.p.malformed(err)
				}
				continue
			}
			if answered[a.node] {
				continue
			}
			answered[a.node] = true
			if slices.Contains(c.expected, a.node) {
				left--
			}
			if add(a) {
				return true
			}
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return false
}

func (p *Peers) malformed(err error) {
	p.metrics.malformed.Inc()
	p.log.Debug().Err(err).Msg("malformed message on the peers' subjects")
}
