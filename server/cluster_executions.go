package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/cluster"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/events/natsbus"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/persistence/jsstore"
)

// clusterStore is the store of cluster mode: the execution core (records,
// event logs, checkpoints, signals, idempotency keys, listings),
// schedules, the audit trail, workflow stats and retention on JetStream,
// shared by every node, reruns and export/import included.
type clusterStore struct {
	*persistence.Store // the node's own: Writable, and nothing kept
	js                 *jsstore.Store
	// onDeleted is told of an execution execution.delete removed (the
	// artifacts it created go with it); those retention removes are the
	// artifact sweep's.
	onDeleted func([]persistence.Execution)
}

var _ actors.Store = clusterStore{}

func (c clusterStore) CreateExecution(ctx context.Context, exec persistence.Execution, first events.Event) (*persistence.Execution, error) {
	return c.js.CreateExecution(ctx, exec, first)
}

func (c clusterStore) CreateExecutionWithSteps(ctx context.Context, exec persistence.Execution, first events.Event, steps []persistence.Step) error {
	return c.js.CreateExecutionWithSteps(ctx, exec, first, steps)
}

func (c clusterStore) ExecutionByIdempotencyKey(ctx context.Context, ws, workflow, key string) (string, bool, error) {
	return c.js.ExecutionByIdempotencyKey(ctx, ws, workflow, key)
}

func (c clusterStore) Execution(ctx context.Context, id string) (persistence.Execution, error) {
	return c.js.Execution(ctx, id)
}

func (c clusterStore) CommitPrepared(p *persistence.Prepared, done func(error)) {
	c.js.CommitPrepared(p, done)
}

func (c clusterStore) CommitPreparedWait(ctx context.Context, p *persistence.Prepared) error {
	return c.js.CommitPreparedWait(ctx, p)
}

func (c clusterStore) Events(ctx context.Context, id string, afterSeq uint64, limit int) ([]events.Event, error) {
	return c.js.Events(ctx, id, afterSeq, limit)
}

func (c clusterStore) StoredEvents(ctx context.Context, id string, afterSeq uint64, limit int) ([]events.Stored, error) {
	return c.js.StoredEvents(ctx, id, afterSeq, limit)
}

func (c clusterStore) Steps(ctx context.Context, id string) (map[string]persistence.Step, error) {
	return c.js.Steps(ctx, id)
}

func (c clusterStore) List(ctx context.Context, f persistence.ListFilter) ([]persistence.Execution, string, error) {
	return c.js.List(ctx, f)
}

func (c clusterStore) Unfinished(ctx context.Context) ([]persistence.Execution, error) {
	return c.js.Unfinished(ctx)
}

// UnfinishedWhere lets a node taking over partitions load only their
// executions, with their waiting index in the same read.
func (c clusterStore) UnfinishedWhere(ctx context.Context, keep func(id string) bool) ([]persistence.Execution, map[string]time.Time, error) {
	return c.js.UnfinishedWhere(ctx, keep)
}

func (c clusterStore) WaitingIndex(ctx context.Context) (map[string]time.Time, error) {
	return c.js.WaitingIndex(ctx)
}

func (c clusterStore) DeleteExecution(ctx context.Context, ws, id string) (persistence.Execution, error) {
	e, err := c.js.DeleteExecution(ctx, ws, id)
	if err == nil && c.onDeleted != nil {
		c.onDeleted([]persistence.Execution{e})
	}
	return e, err
}

func (c clusterStore) AddSignal(ctx context.Context, executionID, name string, payload json.RawMessage, maxPending int) (persistence.Signal, error) {
	return c.js.AddSignal(ctx, executionID, name, payload, maxPending)
}

func (c clusterStore) Signals(ctx context.Context, executionID string) ([]persistence.Signal, error) {
	return c.js.Signals(ctx, executionID)
}

// Schedules: every node's scheduler reads and advances the same ones
// (actors/scheduler.go: a due time advanced once, its execution started
// once under its idempotency key).

func (c clusterStore) CreateSchedule(ctx context.Context, sc persistence.Schedule) error {
	return c.js.CreateSchedule(ctx, sc)
}

func (c clusterStore) Schedule(ctx context.Context, ws, id string) (persistence.Schedule, error) {
	return c.js.Schedule(ctx, ws, id)
}

func (c clusterStore) Schedules(ctx context.Context, ws string) ([]persistence.Schedule, error) {
	return c.js.Schedules(ctx, ws)
}

func (c clusterStore) UpdateSchedule(ctx context.Context, ws, id string, fn func(*persistence.Schedule) error) (persistence.Schedule, error) {
	return c.js.UpdateSchedule(ctx, ws, id, fn)
}

func (c clusterStore) DeleteSchedule(ctx context.Context, ws, id string) error {
	return c.js.DeleteSchedule(ctx, ws, id)
}

// WatchSchedules wakes this node's scheduler when any node changes a
// schedule.
func (c clusterStore) WatchSchedules(ctx context.Context, changed func()) error {
	return c.js.WatchSchedules(ctx, changed)
}

func (c clusterStore) AppendAudit(r persistence.AuditRecord, done func(error)) {
	c.js.AppendAudit(r, done)
}

func (c clusterStore) ListAudit(ctx context.Context, f persistence.AuditFilter) (persistence.AuditPage, error) {
	return c.js.ListAudit(ctx, f)
}

func (c clusterStore) DeleteAuditBefore(ctx context.Context, cutoff time.Time, batch int) (int, bool, error) {
	return c.js.DeleteAuditBefore(ctx, cutoff, batch)
}

func (c clusterStore) WorkflowStats(ctx context.Context, workspace, workflow string, period persistence.Period, now time.Time) (persistence.WorkflowStats, error) {
	return c.js.WorkflowStats(ctx, workspace, workflow, period, now)
}

// DeleteExpired runs on every node's sweep: the walks overlap, and a
// deletion is once (the second finds the execution gone).
func (c clusterStore) DeleteExpired(ctx context.Context, now time.Time, retention persistence.RetentionFunc, limit int) (int, bool, error) {
	return c.js.DeleteExpired(ctx, now, retention, limit)
}

// Export and Import (weft export / import --server, and the HTTP API)
// read and write executions on JetStream; an imported execution that has
// not ended runs on the node holding its partition (actors.ControlResume).
func (c clusterStore) Export(ctx context.Context, id string) (persistence.Record, error) {
	return c.js.Export(ctx, id)
}

func (c clusterStore) Import(ctx context.Context, rec persistence.Record) error {
	return c.js.Import(ctx, rec)
}

// remoteIdleCheck is how often a follower re-reads the store while
// following an execution over core NATS, which may drop its last event.
const remoteIdleCheck = 2 * time.Second

// clusterExecutions is the execution side of a cluster node: the shared
// store, the bus over core NATS, and the control subjects of the
// partitions it holds.
type clusterExecutions struct {
	nc  *nats.Conn
	js  *jsstore.Store
	log zerolog.Logger
	sys *actors.System // set before the node joins
	svc *actors.Service

	mu   sync.Mutex
	ctls map[int]*nats.Subscription // weft.ctl.<p> of the partitions held
}

// openClusterExecutions opens the JetStream store on the node's NATS
// connection.
func openClusterExecutions(nc *nats.Conn, replicas int, log zerolog.Logger) (*clusterExecutions, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jsstore.Open(ctx, nc, jsstore.Options{Replicas: replicas})
	if err != nil {
		return nil, fmt.Errorf("cluster mode: open the execution store on JetStream: %w", err)
	}
	return &clusterExecutions{nc: nc, js: js, log: log, ctls: map[int]*nats.Subscription{}}, nil
}

// bus is the events bus of cluster mode: core NATS, each event published
// by the owner once JetStream acknowledged it.
func (ce *clusterExecutions) bus() *events.Bus {
	ps := natsbus.New(ce.nc)
	return events.NewBus(ps, ps).WithIdleCheck(remoteIdleCheck)
}

// actorsConfig is the actors' side of the cluster.
func (ce *clusterExecutions) actorsConfig(partitions int) *actors.ClusterConfig {
	return &actors.ClusterConfig{
		Partitions:  cmpPartitions(partitions),
		PartitionOf: cluster.PartitionOf,
		Owners:      ce,
		Forget:      ce.js.Forget,
		Adopt:       ce.js.Adopt,
	}
}

// cmpPartitions is the cluster package's default when none is set.
func cmpPartitions(p int) int {
	if p <= 0 {
		return cluster.DefaultPartitions
	}
	return p
}

func ctlSubject(p int) string { return "weft.ctl." + strconv.Itoa(p) }

// controlTimeout bounds one control request to a partition's owner.
const controlTimeout = 2 * time.Second

// Control asks the owner of partition p (actors.Owners).
func (ce *clusterExecutions) Control(ctx context.Context, p int, req actors.ControlRequest) (actors.ControlReply, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return actors.ControlReply{}, fmt.Errorf("encode control request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	msg, err := ce.nc.RequestWithContext(ctx, ctlSubject(p), b)
	if errors.Is(err, nats.ErrNoResponders) {
		return actors.ControlReply{}, actors.ErrNoOwner
	}
	if err != nil {
		return actors.ControlReply{}, fmt.Errorf("control request to partition %d: %w", p, err)
	}
	var reply actors.ControlReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return actors.ControlReply{}, fmt.Errorf("control reply of partition %d: %w", p, err)
	}
	return reply, nil
}

// answer handles one control request for a partition this node holds.
func (ce *clusterExecutions) answer(msg *nats.Msg) {
	var reply actors.ControlReply
	req, err := actors.DecodeControlRequest(msg.Data)
	if err != nil {
		reply = actors.ControlReply{Code: weft.ErrorCode(err), Message: err.Error()}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
		reply = ce.svc.Control(ctx, req)
		cancel()
	}
	b, _ := json.Marshal(reply)
	if err := msg.Respond(b); err != nil {
		ce.log.Warn().Err(err).Msg("answer a control request")
	}
}

// Acquired (cluster.Handler): answer the partition's control subject,
// then resume its executions in the background.
func (ce *clusterExecutions) Acquired(p int, t cluster.Token) {
	sub, err := ce.nc.Subscribe(ctlSubject(p), ce.answer)
	if err != nil {
		ce.log.Error().Err(err).Int("partition", p).Msg("answer the partition's control requests")
	} else {
		ce.mu.Lock()
		ce.ctls[p] = sub
		ce.mu.Unlock()
	}
	ce.sys.AcquirePartition(p)
	ce.log.Debug().Int("partition", p).Uint64("token", uint64(t)).Msg("partition acquired")
}

// Lost (cluster.Handler): stop the partition's executions before
// returning (the next owner may start as soon as it does).
func (ce *clusterExecutions) Lost(p int, reason cluster.LossReason) {
	ce.mu.Lock()
	sub := ce.ctls[p]
	delete(ce.ctls, p)
	ce.mu.Unlock()
	if sub != nil {
		_ = sub.Unsubscribe()
	}
	ce.sys.ReleasePartition(p)
	ce.log.Debug().Int("partition", p).Str("reason", string(reason)).Msg("partition lost")
}

// close closes the JetStream store (its queued writes go out first).
func (ce *clusterExecutions) close() error {
	return ce.js.Close()
}
