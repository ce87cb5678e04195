package actors

import (
	"context"
	"errors"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/persistence"
	"github.com/weft-run/weft/workflows"
)

// Concurrency limits in cluster mode. Admission (admission.go) counts the
// executions its node runs; for a limit to hold cluster-wide, every
// execution of a limited workflow runs on one node: the holder of the
// workflow's home partition (limitHome). A start of such a workflow on
// another node draws an id in that partition and is forwarded to its
// owner (a ControlStart request), which admits it as a start of its own:
// run now, or stored as queued and started in FIFO order. When the home
// partition moves (a node stops or dies), its next owner resumes the
// running executions with their slots and queues the queued ones again
// (executionsSupervisor's recovery): the limit is rebuilt from the store.
//
// The cost: a limited workflow's executions all run on one node at a
// time, and a start on another node takes one more round trip.

// ForwardedStart is a start that another node forwards to the owner of
// the execution's partition (ControlStart): who started it and what.
type ForwardedStart struct {
	Identity     weft.Identity `json:"identity"`
	Request      StartRequest  `json:"request"`
	ConnectionID string        `json:"connection_id,omitempty"` // StartRequest.ConnectionID (not in its JSON)
}

// limitHome returns the partition that runs every execution of workflow
// (ok false: a single node, or the workflow has no limits).
func (s *System) limitHome(workflow string, c workflows.Concurrency) (int, bool) {
	if s.own == nil || !c.Limited() {
		return 0, false
	}
	return s.own.partitionOf("workflow:" + workflow), true
}

// startID draws the id of a new execution of workflow: one this node
// runs, or, for a limited workflow whose home partition another node
// holds, one in that partition (forward true: the start goes there).
func (s *System) startID(workflow string, c workflows.Concurrency) (id string, forward bool, err error) {
	home, ok := s.limitHome(workflow, c)
	if !ok {
		id, err := s.newExecutionID()
		return id, false, err
	}
	for range maxIDDraws {
		if id := weft.NewID("exec_"); s.own.partitionOf(id) == home {
			return id, !s.own.holds(home), nil
		}
	}
	return "", false, weft.Errorf(weft.CodeInternal, "no execution id found in partition %d", home)
}

// startRemote forwards a start to the owner of id's partition and
// answers with its result.
func (s *Service) startRemote(ctx context.Context, who weft.Identity, req StartRequest, id string) (StartResult, error) {
	reply, err := s.controlRemote(ctx, ControlRequest{Op: ControlStart, ExecutionID: id,
		Start: &ForwardedStart{Identity: who, Request: req, ConnectionID: req.ConnectionID}})
	if err != nil {
		return StartResult{}, err
	}
	if err := reply.asError(); err != nil {
		return StartResult{}, err
	}
	return StartResult{ExecutionID: reply.ExecutionID, Status: reply.Status, Existing: reply.Existing}, nil
}

// startForwarded runs a start forwarded by another node, under the id it
// drew. A retried request whose first attempt was stored answers that
// execution again.
func (s *Service) startForwarded(ctx context.Context, req ControlRequest) ControlReply {
	fs := req.Start
	exec, err := s.sys.store.Execution(ctx, req.ExecutionID)
	switch {
	case err == nil && exec.Workspace == fs.Identity.Workspace && exec.Workflow == fs.Request.Name:
		return ControlReply{ExecutionID: exec.ID, Status: exec.Status}
	case err == nil:
		return ControlReply{Code: weft.CodeConflict, Message: "execution id " + req.ExecutionID + " is taken"}
	case !errors.Is(err, persistence.ErrNotFound):
		return replyError(err)
	}
	start := fs.Request
	start.ConnectionID = fs.ConnectionID
	res, err := s.start(ctx, fs.Identity, start, req.ExecutionID)
	if err != nil {
		return replyError(err)
	}
	return ControlReply{ExecutionID: res.ExecutionID, Status: res.Status, Existing: res.Existing}
}
