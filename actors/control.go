package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// routeTimeout bounds how long a service call waits for the executions
// supervisor to take a message.
const routeTimeout = 5 * time.Second

// route hands msg to the execution's actor, spawning it from the store if
// it is not live. It reports false when no actor could take it.
func (s *Service) route(ctx context.Context, id string, msg any) (bool, error) {
	exec, err := s.sys.store.Execution(ctx, id)
	if err != nil {
		return false, weft.Internal(err)
	}
	return s.routeLocal(ctx, exec, msg)
}

// routeLocal is route for an execution already loaded. In cluster mode
// only the node that holds its partition runs it: elsewhere nothing is
// spawned (false).
func (s *Service) routeLocal(ctx context.Context, exec persistence.Execution, msg any) (bool, error) {
	found := make(chan bool, 1)
	r := &routeExecution{id: exec.ID, msg: msg, found: found}
	if !exec.Status.Terminal() && s.sys.owns(exec.ID) {
		r.spawn = &exec
	}
	s.sys.actors.Root.Send(s.sys.executions, r)
	select {
	case ok := <-found:
		return ok, nil
	case <-ctx.Done():
		return false, weft.Errorf(weft.CodeUnavailable, "execution did not answer: %v", ctx.Err())
	case <-time.After(routeTimeout):
		return false, weft.Errorf(weft.CodeUnavailable, "execution did not answer in %s", routeTimeout)
	}
}

// CancelResult answers execution.cancel.
type CancelResult struct {
	Status weft.Status `json:"status"`
}

// Cancel asks an execution to stop: the running step's context is
// cancelled, no further step runs, and execution_cancelled is recorded.
// Cancelling an execution that has ended is a no-op that answers its
// status.
func (s *Service) Cancel(ctx context.Context, who weft.Identity, id, reason string) (_ CancelResult, auditErr error) {
	defer s.audited(ctx, who, "execution.cancel", id, &auditErr)
	if err := who.Require(weft.ScopeExecutionsWrite); err != nil {
		return CancelResult{}, err
	}
	exec, err := s.visibleExecution(ctx, who, id)
	if err != nil {
		return CancelResult{}, err
	}
	if exec.Status.Terminal() {
		return CancelResult{Status: exec.Status}, nil
	}
	if reason == "" {
		reason = "cancelled by " + who.Name
	}
	if !s.sys.owns(id) {
		// Another node runs it: it records the cancellation.
		reply, err := s.controlRemote(ctx, ControlRequest{Op: ControlCancel, ExecutionID: id, Reason: reason})
		if err != nil {
			return CancelResult{}, err
		}
		return CancelResult{Status: reply.Status}, reply.asError()
	}
	return s.cancelLocal(ctx, exec, reason)
}

// cancelLocal cancels an execution this node runs.
func (s *Service) cancelLocal(ctx context.Context, exec persistence.Execution, reason string) (CancelResult, error) {
	id := exec.ID
	if exec.Status.Terminal() {
		return CancelResult{Status: exec.Status}, nil
	}
	if exec.Status == weft.StatusQueued {
		reply := make(chan bool, 1)
		wasQueued, err := ask(ctx, s, s.sys.executions, &cancelQueued{id: id, reply: reply}, reply)
		if err != nil {
			return CancelResult{}, err
		}
		if wasQueued {
			return CancelResult{Status: weft.StatusCancelled}, s.cancelStored(ctx, exec, reason)
		}
	}
	if _, err := s.routeLocal(ctx, exec, &cancelRun{reason: reason}); err != nil {
		return CancelResult{}, err
	}
	return CancelResult{Status: "cancelling"}, nil
}

// SignalRequest is the request of execution.signal.
type SignalRequest struct {
	ExecutionID string          `json:"execution_id"`
	Name        string          `json:"name"`
	Payload     json.RawMessage `json:"payload"`
}

// SignalResult answers execution.signal.
type SignalResult struct {
	Delivered bool        `json:"delivered"`
	Status    weft.Status `json:"status,omitempty"`
}

const maxSignalName = 256

// Signal stores a signal for an execution (durably: a signal sent before the
// workflow waits for it is kept) and wakes the execution if it waits for it.
// An execution that has ended takes no signal: delivered is false.
func (s *Service) Signal(ctx context.Context, who weft.Identity, req SignalRequest) (_ SignalResult, auditErr error) {
	defer s.audited(ctx, who, "execution.signal", req.ExecutionID, &auditErr)
	if err := who.Require(weft.ScopeExecutionsWrite); err != nil {
		return SignalResult{}, err
	}
	if req.Name == "" || len(req.Name) > maxSignalName {
		return SignalResult{}, weft.Errorf(weft.CodeInvalidRequest, "name is required (at most %d bytes)", maxSignalName)
	}
	if len(req.Payload) > 0 && !json.Valid(req.Payload) {
		return SignalResult{}, weft.Errorf(weft.CodeInvalidRequest, "payload must be JSON")
	}
	exec, err := s.visibleExecution(ctx, who, req.ExecutionID)
	if err != nil {
		return SignalResult{}, err
	}
	if exec.Status.Terminal() {
		return SignalResult{Delivered: false, Status: exec.Status}, nil
	}
	sig, err := s.sys.store.AddSignal(ctx, exec.ID, req.Name, req.Payload, s.sys.quotas.SignalsPerExecution)
	if errors.Is(err, persistence.ErrLimit) {
		return SignalResult{}, weft.Errorf(weft.CodeLimitExceeded, "execution %s already holds %d signals it has not consumed", exec.ID, s.sys.quotas.SignalsPerExecution)
	}
	if err != nil {
		return SignalResult{}, storeError(fmt.Errorf("store signal: %w", err))
	}
	// The signal is durable: if routing fails, the execution still finds
	// it when its actor next loads.
	if err := s.notifySignal(ctx, exec, sig); err != nil {
		s.sys.log.Warn().Err(err).Str("execution_id", exec.ID).Msg("notify execution of signal")
	}
	return SignalResult{Delivered: true}, nil
}

// cancelStored records the cancellation of an execution that has no actor
// (it was queued): execution_cancelled after its last event.
func (s *Service) cancelStored(ctx context.Context, exec persistence.Execution, reason string) error {
	now := time.Now().UTC()
	e := events.New(events.ExecutionCancelled, events.ExecutionEndDetails{Reason: reason, DurationMS: now.Sub(exec.CreatedAt).Milliseconds()})
	e.Data.Seq, e.Data.Timestamp, e.Data.ExecutionID, e.Data.Workflow = exec.LastSeq+1, now, exec.ID, exec.Workflow
	prepared, err := persistence.Prepare(persistence.Write{
		ExecutionID: exec.ID, Events: []events.Event{e},
		Status: &persistence.StatusUpdate{Status: weft.StatusCancelled, Error: cancelledError(reason), At: now},
	})
	if err == nil {
		err = s.sys.store.CommitPreparedWait(ctx, prepared)
	}
	if err != nil {
		return storeError(err)
	}
	if err := s.sys.bus.Publish(exec.ID, prepared.Events()...); err != nil {
		s.sys.log.Warn().Err(err).Msg("publish cancellation")
	}
	s.sys.metrics.ExecutionsEnded.WithLabelValues(exec.Workflow, string(weft.StatusCancelled)).Inc()
	s.sys.unfinished.release(exec.ID)
	return nil
}

// notifySignal wakes the execution a stored signal is for: here, or on
// the node that runs it.
func (s *Service) notifySignal(ctx context.Context, exec persistence.Execution, sig persistence.Signal) error {
	if s.sys.owns(exec.ID) {
		_, err := s.routeLocal(ctx, exec, &signalArrived{sig: sig})
		return err
	}
	reply, err := s.controlRemote(ctx, ControlRequest{Op: ControlSignal, ExecutionID: exec.ID, Signal: &sig})
	if err != nil {
		return err
	}
	return reply.asError()
}
