package actors

import (
	"context"

	"github.com/weft-run/weft/persistence"
)

// Executions stored by one node and run by another (cluster mode): an
// imported execution that has not ended, and a rerun of a limited
// workflow (whose executions all run where its limits are held,
// cluster_limits.go). The node that stored it tells the owner of its
// partition (ControlResume), which runs it as it resumes an execution
// after a takeover: recorded steps fast-forward, a queued one waits for
// its slot. If no owner answers (a partition changing hands), the
// execution is in the store's unfinished index, and the partition's next
// owner resumes it with the rest when it acquires the partition.

// resumeStored runs a stored, unfinished execution: here if this node
// holds its partition (or on a single node), else on its owner.
func (s *Service) resumeStored(ctx context.Context, exec persistence.Execution) {
	if s.sys.owns(exec.ID) {
		s.sys.actors.Root.Send(s.sys.executions, &startExecution{exec: exec, fresh: false})
		return
	}
	reply, err := s.controlRemote(ctx, ControlRequest{Op: ControlResume, ExecutionID: exec.ID})
	if err == nil {
		err = reply.asError()
	}
	if err != nil {
		s.sys.log.Warn().Err(err).Str("execution_id", exec.ID).
			Msg("the owner of a stored execution's partition was not told to run it; its partition's next owner resumes it")
	}
}

// resumeHere answers ControlResume: exec (this node's) runs from its
// history, and counts in this node's unfinished executions, once.
func (s *Service) resumeHere(exec persistence.Execution) ControlReply {
	if exec.Status.Terminal() {
		return ControlReply{Status: exec.Status}
	}
	s.sys.unfinished.add([]persistence.Execution{exec})
	s.sys.actors.Root.Send(s.sys.executions, &startExecution{exec: exec, fresh: false})
	return ControlReply{Status: exec.Status}
}
