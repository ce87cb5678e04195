package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
)

// ClusterConfig makes the actors one node of a cluster (PROTOCOL.md
// section 11): an execution runs only on the node that holds its
// partition's lease. The server tells the System which partitions it
// holds (AcquirePartition, ReleasePartition); starts draw ids in those.
type ClusterConfig struct {
	// Partitions is how many partitions executions are spread over.
	Partitions int
	// PartitionOf maps an execution id to its partition
	// (cluster.PartitionOf).
	PartitionOf func(id string, partitions int) int
	// Owners reach the node that runs an execution of another partition.
	Owners Owners
	// Forget drops what the store caches of an execution's log, when this
	// node stops running it (jsstore.Store.Forget). Optional.
	Forget func(id string)
	// Adopt readies an execution for this node before it resumes it:
	// the store applies its log's last write, which the previous owner
	// may have appended without applying (jsstore.Store.Adopt), so that
	// a step ended in the log is not run again. Optional.
	Adopt func(ctx context.Context, id string) error
	// OrphanCheck is how often the node checks that every unfinished
	// execution of its partitions is running or resting here, and starts
	// those that are not (cluster_orphans.go): 0 is DefaultOrphanCheck,
	// negative never.
	OrphanCheck time.Duration
}

// Owners reach the node holding a partition, to cancel or signal one of
// its executions at once (the server's implementation: a core NATS
// request to weft.ctl.<partition>, answered by the owner's
// Service.Control).
type Owners interface {
	Control(ctx context.Context, partition int, req ControlRequest) (ControlReply, error)
}

// ErrNoOwner is Owners.Control's error when no node holds the partition
// now (a lease in transition): the caller may retry.
var ErrNoOwner = errors.New("no node holds the partition")

// Control operations.
const (
	ControlCancel = "cancel"
	ControlSignal = "signal"
	// ControlStart starts an execution of a limited workflow on the node
	// that holds the workflow's concurrency limits (cluster_limits.go).
	ControlStart = "start"
	// ControlResume tells the owner to run an execution another node
	// stored in its partition (an import, a rerun of a limited workflow):
	// cluster_resume.go.
	ControlResume = "resume"
)

// ControlRequest asks the owner of an execution to act on it. A signal is
// already stored when it is sent: the request only wakes the execution.
type ControlRequest struct {
	Op          string              `json:"op"`
	ExecutionID string              `json:"execution_id"`
	Reason      string              `json:"reason,omitempty"`
	Signal      *persistence.Signal `json:"signal,omitempty"`
	Start       *ForwardedStart     `json:"start,omitempty"`
}

// ControlReply answers a ControlRequest: the status to answer the client
// with, or an error code and message.
type ControlReply struct {
	Status weft.Status `json:"status,omitempty"`
	// ExecutionID and Existing answer a ControlStart.
	ExecutionID string    `json:"execution_id,omitempty"`
	Existing    bool      `json:"existing,omitempty"`
	Code        weft.Code `json:"code,omitempty"`
	Message     string    `json:"message,omitempty"`
}

// maxControlRequest bounds a control request's encoding: an id, a reason
// and a signal's name (its payload stays in the store), or a forwarded
// start, whose parameters and metadata fit in one client message (64 KiB
// by default).
const maxControlRequest = 256 << 10

// DecodeControlRequest parses a control request from another node,
// refusing what is malformed with an INVALID_REQUEST error.
func DecodeControlRequest(b []byte) (ControlRequest, error) {
	var req ControlRequest
	if len(b) > maxControlRequest {
		return req, weft.Errorf(weft.CodeInvalidRequest, "control request of %d bytes (at most %d)", len(b), maxControlRequest)
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return req, weft.Errorf(weft.CodeInvalidRequest, "control request: %v", err)
	}
	switch {
	case req.ExecutionID == "":
		return req, weft.Errorf(weft.CodeInvalidRequest, "control request without execution_id")
	case req.Op == ControlCancel, req.Op == ControlResume:
	case req.Op == ControlSignal && req.Signal != nil && req.Signal.Name != "":
	case req.Op == ControlSignal:
		return req, weft.Errorf(weft.CodeInvalidRequest, "signal control request without its signal")
	case req.Op == ControlStart && req.Start != nil && req.Start.Request.Name != "" && req.Start.Identity.Workspace != "":
	case req.Op == ControlStart:
		return req, weft.Errorf(weft.CodeInvalidRequest, "start control request without its workflow and workspace")
	default:
		return req, weft.Errorf(weft.CodeInvalidRequest, "unknown control op %q", req.Op)
	}
	return req, nil
}

// ownership is the partitions this node holds (cluster mode).
type ownership struct {
	cfg  ClusterConfig
	mu   sync.RWMutex
	held map[int]bool
	// takeovers resume the executions of the partitions acquired.
	takeovers takeovers
}

func newOwnership(cfg *ClusterConfig) *ownership {
	if cfg == nil || cfg.Partitions <= 0 || cfg.PartitionOf == nil {
		return nil
	}
	return &ownership{cfg: *cfg, held: map[int]bool{}}
}

func (o *ownership) partitionOf(id string) int { return o.cfg.PartitionOf(id, o.cfg.Partitions) }

func (o *ownership) holds(p int) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.held[p]
}

func (o *ownership) any() bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return len(o.held) > 0
}

// share is this node's part of a cluster-wide limit of max: max times
// the fraction of the partitions it holds, rounded up (1 at least while
// it holds one). With the partitions all held the shares add up to max,
// give or take one per node.
func (o *ownership) share(max int) int {
	o.mu.RLock()
	held := len(o.held)
	o.mu.RUnlock()
	return (max*held + o.cfg.Partitions - 1) / o.cfg.Partitions
}

func (o *ownership) set(p int, held bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if held {
		o.held[p] = true
	} else {
		delete(o.held, p)
	}
}

// owns reports whether this node runs execution id: always on a single
// node.
func (s *System) owns(id string) bool {
	return s.own == nil || s.own.holds(s.own.partitionOf(id))
}

// maxIDDraws bounds the ids a start draws to find one this node owns:
// with 1 partition of 64 held, 4096 draws all miss with odds of 1e-28.
const maxIDDraws = 4096

// newExecutionID draws an execution id that this node runs, so that a
// start runs where it was asked, with no forwarding.
func (s *System) newExecutionID() (string, error) {
	if s.own == nil {
		return weft.NewID("exec_"), nil
	}
	if s.own.any() {
		for range maxIDDraws {
			if id := weft.NewID("exec_"); s.owns(id) {
				return id, nil
			}
		}
	}
	return "", weft.Errorf(weft.CodeUnavailable, "this node holds no partition of the cluster yet: retry, here or on another node")
}

// AcquirePartition makes this node the runner of partition p's
// executions, and resumes the unfinished ones from their histories in the
// background (completed steps are not run again: cluster_takeover.go). It
// returns at once: the cluster's lease goroutine calls it.
func (s *System) AcquirePartition(p int) {
	if s.own == nil {
		return
	}
	s.own.set(p, true)
	s.own.takeovers.add(s, p)
}

// releaseTimeout bounds how long ReleasePartition waits for the
// partition's actors to stop.
const releaseTimeout = 5 * time.Second

// ReleasePartition stops running partition p's executions at once (lease
// lost or handed over): their actors stop, no further write of theirs is
// queued, and the store forgets their logs. It returns once the actors
// have stopped, so that the next owner can start after it.
func (s *System) ReleasePartition(p int) {
	if s.own == nil {
		return
	}
	s.own.set(p, false)
	in := func(id string) bool { return s.own.partitionOf(id) == p }
	s.unfinished.drop(in) // the next owner counts them
	done := make(chan []string, 1)
	s.actors.Root.Send(s.executions, &dropPartition{in: in, reply: done})
	select {
	case ids := <-done:
		for _, id := range ids {
			s.forget(id)
		}
		s.log.Debug().Int("partition", p).Int("stopped_executions", len(ids)).Msg("partition released")
	case <-time.After(releaseTimeout):
		s.log.Warn().Int("partition", p).Msg("the partition's executions did not stop in time; the store's fencing refuses their appends")
	}
}

// dropPartition stops the actors of the executions in a partition and
// forgets the rest of what the supervisor keeps of them; reply gets the
// ids of the actors stopped, once they have.
type dropPartition struct {
	in    func(id string) bool
	reply chan<- []string
}

// drop handles dropPartition. The actors are taken out of live first, so
// that their Terminated finds nothing to release or passivate.
func (s *executionsSupervisor) drop(ctx actor.Context, msg *dropPartition) {
	var ids []string
	var futures []*actor.Future
	for id, h := range s.live {
		if !msg.in(id) {
			continue
		}
		delete(s.live, id)
		s.unwarm(h)
		s.admit.release(id)
		ids = append(ids, id)
		futures = append(futures, ctx.StopFuture(h.pid))
	}
	for id, e := range s.pass.passive {
		if msg.in(id) {
			s.wakeOne(e)
			s.admit.release(id)
		}
	}
	// Queued ones are the next owner's to admit: promoted here, they
	// would run on a node that no longer holds their partition.
	s.admit.queue = slices.DeleteFunc(s.admit.queue, func(q *queued) bool {
		if !msg.in(q.id) {
			return false
		}
		s.admit.release(q.id) // granted, not yet stored
		s.sys.metrics.ExecutionsQueued.Dec()
		return true
	})
	for id, t := range s.stalls.timers {
		if msg.in(id) {
			t.Stop()
			delete(s.stalls.timers, id)
		}
	}
	s.sys.metrics.ExecutionActors.Set(float64(len(s.live)))
	go func() {
		for _, f := range futures {
			_ = f.Wait()
		}
		msg.reply <- ids
	}()
}

// Control acts on one of this node's executions at another node's
// request (Owners.Control); the caller has checked who may.
func (s *Service) Control(ctx context.Context, req ControlRequest) ControlReply {
	if !s.sys.owns(req.ExecutionID) {
		return ControlReply{Code: weft.CodeUnavailable, Message: "this node no longer runs the execution: retry"}
	}
	if req.Op == ControlStart {
		return s.startForwarded(ctx, req)
	}
	exec, err := s.sys.store.Execution(ctx, req.ExecutionID)
	if err != nil {
		return replyError(err)
	}
	switch req.Op {
	case ControlCancel:
		res, err := s.cancelLocal(ctx, exec, req.Reason)
		if err != nil {
			return replyError(err)
		}
		return ControlReply{Status: res.Status}
	case ControlSignal:
		if _, err := s.routeLocal(ctx, exec, &signalArrived{sig: *req.Signal}); err != nil {
			return replyError(err)
		}
		return ControlReply{}
	case ControlResume:
		return s.resumeHere(exec)
	}
	return ControlReply{Code: weft.CodeInvalidRequest, Message: fmt.Sprintf("unknown control op %q", req.Op)}
}

func replyError(err error) ControlReply {
	var we *weft.Error
	if errors.As(err, &we) {
		return ControlReply{Code: we.Code, Message: we.Message}
	}
	if errors.Is(err, persistence.ErrNotFound) {
		return ControlReply{Code: weft.CodeExecutionNotFound, Message: err.Error()}
	}
	return ControlReply{Code: weft.CodeInternal, Message: err.Error()}
}

// remoteControlWait bounds how long a cancel or a signal waits for the
// owner of an execution's partition to answer, through a hand-over.
const remoteControlWait = 15 * time.Second

// controlRemote sends req to the node that runs it, retrying while no
// node holds the partition (a lease in transition, at most the lease TTL).
func (s *Service) controlRemote(ctx context.Context, req ControlRequest) (ControlReply, error) {
	own := s.sys.own
	p := own.partitionOf(req.ExecutionID)
	ctx, cancel := context.WithTimeout(ctx, remoteControlWait)
	defer cancel()
	for {
		if own.holds(p) {
			// Taken over meanwhile: act here.
			return s.Control(ctx, req), nil
		}
		reply, err := own.cfg.Owners.Control(ctx, p, req)
		if err == nil && reply.Code != weft.CodeUnavailable {
			return reply, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New(reply.Message)
			}
			return ControlReply{}, weft.Errorf(weft.CodeUnavailable, "the node running execution %s did not answer: %v", req.ExecutionID, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// asError is the client's error of a control reply (nil for success).
func (r ControlReply) asError() error {
	if r.Code == "" {
		return nil
	}
	return weft.Errorf(r.Code, "%s", r.Message)
}

// forget drops what the store caches of execution id's log (cluster mode).
func (s *System) forget(id string) {
	if s.own != nil && s.own.cfg.Forget != nil {
		s.own.cfg.Forget(id)
	}
}

// adopt readies the executions of a partition just acquired (see
// ClusterConfig.Adopt). One that cannot be readied is resumed anyway: the
// store re-applies its last write before its next append, and at worst
// its last step runs again, as after a crash.
func (s *System) adopt(ctx context.Context, execs []persistence.Execution) {
	if s.own == nil || s.own.cfg.Adopt == nil {
		return
	}
	for _, e := range execs {
		if err := s.own.cfg.Adopt(ctx, e.ID); err != nil {
			s.log.Warn().Err(err).Str("execution_id", e.ID).Msg("ready the execution for this node")
		}
	}
}
