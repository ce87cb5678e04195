package ws

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/events"
)

// request is one in-flight request, handled in its own goroutine. Its
// methods send frames back to the connection actor.
type request struct {
	c        *connActor
	id       string
	slot     uint64 // the connection's handle on this request
	who      weft.Identity
	flow     string
	payload  json.RawMessage
	answered bool // a frame has been sent (read and written by the request's goroutine only)
}

// send writes a frame of this request. Frames before the last go straight
// to the outbox, in order, waiting for room; the last one goes through the
// actor, which frees the request id before it queues the frame, so a client
// that reuses the id on receipt never meets DUPLICATE_REQUEST_ID.
func (r *request) send(ctx context.Context, frame []byte, final bool) error {
	if final {
		r.answered = true
		r.c.root.Send(r.c.self, &outbound{id: r.id, slot: r.slot, frame: frame, final: true})
		return nil
	}
	err := r.c.outbox.pushWait(ctx, frame)
	if errors.Is(err, errFull) {
		r.c.root.Send(r.c.self, &slowConsumer{})
	}
	if err == nil && !r.answered {
		r.answered = true
		r.c.root.Send(r.c.self, &requestAnswered{slot: r.slot})
	}
	return err
}

// respond sends a response frame; final ends the request id.
func (r *request) respond(ctx context.Context, resp any, final bool) error {
	return r.send(ctx, encodeResponse(r.id, resp, final), final)
}

func (r *request) fail(err error) {
	_ = r.send(context.Background(), encodeError(r.id, err), true)
}

// event frames a stored event for this request: its bytes with the id
// spliced in, no encoding.
func (r *request) event(ctx context.Context, e events.Stored) error {
	final := e.Type.Terminal()
	return r.send(ctx, e.FrameInto(make([]byte, 0, e.FrameSize(r.id)), r.id, final), final)
}

// decode reads the request payload into v; a missing payload is {}.
func (r *request) decode(v any) error {
	if !isPresent(r.payload) {
		return nil
	}
	if err := json.Unmarshal(r.payload, v); err != nil {
		return weft.Errorf(weft.CodeInvalidRequest, "request: %v", err)
	}
	return nil
}

// handler serves one service. It returns the final response, or nil when
// it has already sent the final frame itself (streams).
type handler func(ctx context.Context, r *request) (any, error)

var services map[string]handler

func init() {
	services = map[string]handler{
		"ping":                func(context.Context, *request) (any, error) { return map[string]bool{"pong": true}, nil },
		"server.info":         serverInfo,
		"workflow.list":       workflowList,
		"workflow.start":      workflowStart,
		"workflow.stats":      workflowStats, // stats.go
		"execution.get":       executionGet,
		"executions.list":     executionsList,
		"execution.subscribe": executionSubscribe,
		"execution.cancel":    executionCancel,
		"execution.signal":    executionSignal,
		"execution.delete":    executionDelete, // delete.go
		"execution.replay":    executionReplay,
		"execution.rerun":     executionRerun,
		"room.join":           roomJoin,
		"room.leave":          roomLeave,
		"room.broadcast":      roomBroadcast,
		"room.members":        roomMembers,
		"connections.list":    connectionsList,
		"connection.send":     connectionSend,
		"connection.close":    connectionClose,
		"audit.list":          auditList, // audit.go
	}
	addScheduleServices(services) // schedules.go
}

// dispatch starts a request in its own goroutine, cancelled when the
// connection stops or the client unsubscribes.
func (c *connActor) dispatch(f clientFrame) {
	if f.Service == "execution.unsubscribe" {
		c.unsubscribe(f)
		return
	}
	if _, busy := c.inflight[f.ID]; busy && f.Kind == kindRequest {
		c.enqueue(encodeError(f.ID, weft.Errorf(weft.CodeDuplicateRequestID, "request id %q is already in flight", f.ID)))
		return
	}
	h, ok := services[f.Service]
	if !ok {
		c.enqueue(encodeError(f.ID, weft.Errorf(weft.CodeUnknownService, "no service %q", f.Service)))
		return
	}
	if c.running >= c.cfg.MaxInflight {
		c.enqueue(encodeError(f.ID, weft.Errorf(weft.CodeLimitExceeded, "%d requests are in flight on this connection, its limit; unsubscribe or wait for some to end", c.cfg.MaxInflight)))
		return
	}
	ctx, cancel := context.WithCancel(c.requestContext()) // audit.go: the request's origin
	if f.Kind == kindRequest {
		if c.inflight == nil {
			c.inflight = make(map[string]context.CancelFunc)
		}
		c.inflight[f.ID] = cancel
	}
	c.nextSlot++
	c.running++
	if c.unanswered == nil {
		c.unanswered = make(map[uint64]struct{})
	}
	c.unanswered[c.nextSlot] = struct{}{}
	r := &request{c: c, id: f.ID, slot: c.nextSlot, who: *c.who, flow: f.Flow, payload: f.Request}
	root, self := c.root, c.self
	go func() {
		defer func() {
			cancel()
			root.Send(self, &requestEnded{slot: r.slot})
		}()
		resp, err := h(ctx, r)
		switch {
		case errors.Is(err, errFull) || errors.Is(err, errOutboxClosed):
			// The connection is closing: nothing more to send.
		case err != nil && ctx.Err() != nil:
			// Unsubscribed (the unsubscribe answer ended the id), or the
			// connection is closing: nobody to tell, nothing to log.
		case err != nil:
			if weft.ErrorCode(err) == weft.CodeInternal {
				c.log.Error().Err(err).Str("request_id", r.id).Str("service", f.Service).Msg("request failed")
			}
			r.fail(err)
		case resp != nil:
			_ = r.respond(ctx, resp, true)
		}
	}()
}

// unsubscribe cancels a subscription's request goroutine; the id is free
// again at once.
func (c *connActor) unsubscribe(f clientFrame) {
	var req struct {
		Subscription string `json:"subscription"`
	}
	if isPresent(f.Request) {
		if err := json.Unmarshal(f.Request, &req); err != nil {
			c.enqueue(encodeError(f.ID, weft.Errorf(weft.CodeInvalidRequest, "subscription must be a string")))
			return
		}
	}
	if req.Subscription == "" {
		c.enqueue(encodeError(f.ID, weft.Errorf(weft.CodeInvalidRequest, "subscription is required")))
		return
	}
	cancel, ok := c.inflight[req.Subscription]
	if ok {
		cancel()
		delete(c.inflight, req.Subscription)
	}
	c.enqueue(encodeResponse(f.ID, map[string]bool{"unsubscribed": ok}, true))
}

func serverInfo(_ context.Context, r *request) (any, error) {
	return r.c.svc.Info(), nil
}

func workflowList(_ context.Context, r *request) (any, error) {
	list, err := r.c.svc.ListWorkflows(r.who)
	if err != nil {
		return nil, err
	}
	return map[string]any{"workflows": list}, nil
}

func workflowStart(ctx context.Context, r *request) (any, error) {
	var req struct {
		actors.StartRequest
		Subscribe *bool `json:"subscribe"`
	}
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	subscribe := req.Subscribe == nil || *req.Subscribe
	if subscribe && !r.who.Can(weft.ScopeExecutionsRead) {
		// Refuse before anything is stored: a start the client cannot
		// follow would leave it without the execution id.
		return nil, weft.Errorf(weft.CodeForbidden, "workflow.start streams events, which needs scope %q; send \"subscribe\":false to start without it", weft.ScopeExecutionsRead)
	}
	req.ConnectionID = r.c.id
	res, err := r.c.svc.Start(ctx, r.who, req.StartRequest)
	if err != nil {
		return nil, err
	}
	if r.id == "" { // shorthand: the execution id is the stream's id
		r.id = res.ExecutionID
	}
	if !subscribe {
		return res, nil
	}
	return r.answerAndFollow(ctx, res, res.ExecutionID)
}

// answerAndFollow answers a start with res (not the last frame), then
// streams every event of the new execution on the same request id, until
// its end.
func (r *request) answerAndFollow(ctx context.Context, res any, executionID string) (any, error) {
	sub, err := r.c.svc.Subscribe(ctx, r.who, executionID, 0)
	if err != nil {
		return nil, err
	}
	if err := r.respond(ctx, res, false); err != nil {
		return nil, err
	}
	return nil, sub.RunStored(ctx, func(e events.Stored) error { return r.event(ctx, e) })
}

// executionID takes the execution id from the request or from "flow".
func (r *request) executionID(fromRequest string) string {
	if fromRequest != "" {
		return fromRequest
	}
	return r.flow
}

func executionGet(ctx context.Context, r *request) (any, error) {
	var req struct {
		ExecutionID string `json:"execution_id"`
	}
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.GetExecution(ctx, r.who, r.executionID(req.ExecutionID))
}

func executionsList(ctx context.Context, r *request) (any, error) {
	var req actors.ListRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.ListExecutions(ctx, r.who, req)
}

func executionSubscribe(ctx context.Context, r *request) (any, error) {
	var req struct {
		ExecutionID string `json:"execution_id"`
		AfterSeq    uint64 `json:"after_seq"`
	}
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	sub, err := r.c.svc.Subscribe(ctx, r.who, r.executionID(req.ExecutionID), req.AfterSeq)
	if err != nil {
		return nil, err
	}
	if err := r.respond(ctx, sub.Info, sub.Ended); err != nil || sub.Ended {
		return nil, err
	}
	return nil, sub.RunStored(ctx, func(e events.Stored) error { return r.event(ctx, e) })
}

func deadlineSoon() time.Time { return time.Now().Add(time.Second) }

func executionCancel(ctx context.Context, r *request) (any, error) {
	var req struct {
		ExecutionID string `json:"execution_id"`
		Reason      string `json:"reason"`
	}
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	return r.c.svc.Cancel(ctx, r.who, r.executionID(req.ExecutionID), req.Reason)
}

func executionSignal(ctx context.Context, r *request) (any, error) {
	var req actors.SignalRequest
	if err := r.decode(&req); err != nil {
		return nil, err
	}
	req.ExecutionID = r.executionID(req.ExecutionID)
	return r.c.svc.Signal(ctx, r.who, req)
}
