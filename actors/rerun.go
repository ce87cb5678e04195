package actors

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// RerunRequest is the request of execution.rerun.
type RerunRequest struct {
	ExecutionID string `json:"execution_id"`
	// FromStep is the first top-level step (1-based, as in step ids "1",
	// "2", ...) to run again. Completed steps before it, and everything
	// nested under them ("2.1" when FromStep is 3), are reused.
	FromStep int `json:"from_step"`
	// ConnectionID is the socket the rerun came from (set by the adapter).
	ConnectionID string `json:"-"`
	// Follow says the adapter will stream the new execution's events to
	// the caller (the socket's default, "subscribe" not false), which needs
	// executions:read too: Rerun then checks it with the rest, before it
	// stores anything (set by the adapter, not the client).
	Follow bool `json:"-"`
}

// Rerun starts a new execution of the same workflow with the same
// parameters that reuses the recorded results of the steps before
// FromStep and runs the rest fresh. Only completed steps are reused: a
// step that failed for good, or a wait in progress, runs again.
//
// The copied checkpoints are stored in the same commit as the new
// execution, before its actor runs, so the workflow fast-forwards through
// them exactly as after a restart: they run nothing and emit no events.
// The new history therefore holds execution_started, workflow_start and
// then the events of the steps from FromStep on. Its metadata is the
// original's plus "rerun_of" (the original id) and "from_step".
//
// It needs workflows:start (it starts an execution), and executions:read
// when req.Follow; the original must be visible to the caller. Every scope
// is checked before anything is read or stored: a refused rerun leaves no
// execution behind.
func (s *Service) Rerun(ctx context.Context, who weft.Identity, req RerunRequest) (_ StartResult, auditErr error) {
	defer s.audited(ctx, who, "execution.rerun", req.ExecutionID, &auditErr)
	if err := who.Require(weft.ScopeWorkflowsStart); err != nil {
		return StartResult{}, err
	}
	if req.Follow && !who.Can(weft.ScopeExecutionsRead) {
		return StartResult{}, weft.Errorf(weft.CodeForbidden, "execution.rerun streams events, which needs scope %q; send \"subscribe\":false to rerun without it", weft.ScopeExecutionsRead)
	}
	if req.FromStep < 1 {
		return StartResult{}, weft.Errorf(weft.CodeInvalidRequest, "from_step must be 1 or more")
	}
	orig, err := s.visibleExecution(ctx, who, req.ExecutionID)
	if err != nil {
		return StartResult{}, err
	}
	if s.sys.draining() {
		return StartResult{}, weft.Errorf(weft.CodeUnavailable, "server is shutting down")
	}
	def, ok := s.sys.registry.Lookup(orig.Workflow)
	if !ok {
		return StartResult{}, weft.Errorf(weft.CodeWorkflowNotFound, "no workflow named %q", orig.Workflow)
	}
	recorded, err := s.sys.store.Steps(ctx, orig.ID)
	if err != nil {
		return StartResult{}, weft.Internal(err)
	}
	var reused []persistence.Step
	for _, st := range recorded {
		if !st.Pending() && st.Error == nil && topLevelIndex(st.ID) < req.FromStep {
			reused = append(reused, st)
		}
	}
	meta, err := rerunMetadata(orig.Metadata, orig.ID, req.FromStep)
	if err != nil {
		return StartResult{}, weft.Internal(err)
	}
	// In cluster mode the new execution runs where a start would: in a
	// partition this node holds, or a limited workflow's home partition.
	id, elsewhere, err := s.sys.startID(orig.Workflow, def.Concurrency())
	if err != nil {
		return StartResult{}, err
	}
	now := time.Now().UTC()
	exec := persistence.Execution{
		ID: id, Workspace: who.Workspace, Workflow: orig.Workflow, Status: weft.StatusRunning,
		Parameters: orig.Parameters, Metadata: meta, StartedBy: who.Name, ConnectionID: req.ConnectionID,
		CreatedAt: now, UpdatedAt: now,
	}
	first := events.New(events.ExecutionStarted, events.ExecutionStartedDetails{Parameters: exec.Parameters, Metadata: meta})
	first.Data = events.Data{Timestamp: now, ExecutionID: exec.ID, Workflow: exec.Workflow, Seq: 1, Details: first.Data.Details}
	if err := s.sys.unfinished.reserve(exec.Workspace, exec.ID); err != nil {
		return StartResult{}, err
	}
	if err := s.sys.store.CreateExecutionWithSteps(ctx, exec, first, reused); err != nil {
		s.sys.unfinished.release(exec.ID)
		return StartResult{}, storeError(err)
	}
	s.sys.metrics.ExecutionsStarted.WithLabelValues(exec.Workflow).Inc()
	if elsewhere {
		// Its owner runs it, and counts it (resumeHere).
		s.sys.unfinished.release(exec.ID)
		s.resumeStored(ctx, exec)
	} else {
		s.sys.actors.Root.Send(s.sys.executions, &startExecution{exec: exec, fresh: true})
	}
	s.sys.log.Info().Str("execution_id", exec.ID).Str("rerun_of", orig.ID).Int("from_step", req.FromStep).
		Int("reused_steps", len(reused)).Msg("rerun started")
	return StartResult{ExecutionID: exec.ID, Status: exec.Status}, nil
}

// topLevelIndex is the position of a step id's top-level step ("3" for
// "3.2.1"); ids that are not positional sort last.
func topLevelIndex(id string) int {
	head, _, _ := strings.Cut(id, ".")
	n, err := strconv.Atoi(head)
	if err != nil {
		return int(^uint(0) >> 1)
	}
	return n
}

// rerunMetadata adds the link to the original to a copy of its metadata.
func rerunMetadata(orig json.RawMessage, id string, from int) (json.RawMessage, error) {
	m := map[string]any{}
	if len(orig) > 0 {
		if err := json.Unmarshal(orig, &m); err != nil || m == nil {
			m = map[string]any{}
		}
	}
	m["rerun_of"], m["from_step"] = id, from
	return json.Marshal(m)
}
