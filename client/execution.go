package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"iter"
	"sync"
	"time"
)

// Event is one execution event (PROTOCOL.md section 5).
type Event struct {
	Type        string          `json:"type"`
	ExecutionID string          `json:"execution_id"`
	Workflow    string          `json:"workflow"`
	Seq         uint64          `json:"seq"`
	Timestamp   time.Time       `json:"timestamp"`
	Details     json.RawMessage `json:"details,omitempty"`
	Replay      bool            `json:"replay,omitempty"`
	// Data is the event frame's data as the server sent it, for a
	// consumer that prints or keeps it unchanged.
	Data json.RawMessage `json:"-"`
}

// Terminal reports whether ev ends its execution.
func (ev Event) Terminal() bool {
	switch ev.Type {
	case "execution_completed", "execution_failed", "execution_cancelled":
		return true
	}
	return false
}

// DecodeDetails unmarshals the event's details into v.
func (ev Event) DecodeDetails(v any) error { return json.Unmarshal(ev.Details, v) }

// Execution is a live view of one execution: its events, in order, each
// once, across reconnects, then its outcome. Events are consumed once:
// Events, Next and Chan share one queue (use one of them).
type Execution struct {
	c        *Client
	workflow string

	// guarded by c.mu
	id         string
	status     string
	start      json.RawMessage // the workflow.start request until the id is known
	reqID      string          // the stream's request id on the current connection
	lastSeq    uint64          // the last event received (resubscribe after it)
	retries    int
	ready      chan struct{} // closed on the first answer (or failure)
	readyDone  bool
	readyErr   error
	chanOnce   sync.Once
	eventsChan chan Event

	// consumer side
	qmu      sync.Mutex
	queue    []Event
	ended    bool
	err      error  // why the stream ended, when not by a terminal event
	terminal *Event // the terminal event, when seen
	notify   chan struct{}
	finished chan struct{}
}

func newExecution(c *Client) *Execution {
	return &Execution{c: c, ready: make(chan struct{}), notify: make(chan struct{}, 1), finished: make(chan struct{})}
}

// ID is the execution id.
func (e *Execution) ID() string {
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	return e.id
}

// Status is the execution's status in the server's answer to the start or
// the (latest) subscribe ("queued", "running", ...; "" before it), not
// updated by the events that follow.
func (e *Execution) Status() string {
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	return e.status
}

// LastSeq is the seq of the last event received (not necessarily consumed).
func (e *Execution) LastSeq() uint64 {
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	return e.lastSeq
}

// StartOption configures Start.
type StartOption func(*startRequest)

type startRequest struct {
	Name           string          `json:"name"`
	Parameters     json.RawMessage `json:"parameters,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
}

// WithMetadata sets the execution's metadata (any JSON object).
func WithMetadata(m any) StartOption {
	return func(r *startRequest) { r.Metadata, _ = json.Marshal(m) }
}

// WithIdempotencyKey sets the idempotency key. Without one the client
// makes a random key, so that a start sent again after a drop starts one
// execution, not two.
func WithIdempotencyKey(key string) StartOption {
	return func(r *startRequest) { r.IdempotencyKey = key }
}

// Start starts workflow with params (any JSON object; nil = {}) and
// returns once the server has answered with the execution id. The
// execution's events follow on the returned handle.
func (c *Client) Start(ctx context.Context, workflow string, params any, opts ...StartOption) (*Execution, error) {
	req := startRequest{Name: workflow}
	if params != nil {
		raw, err := encodeBody(params)
		if err != nil {
			return nil, err
		}
		req.Parameters = raw
	}
	for _, o := range opts {
		o(&req)
	}
	if req.IdempotencyKey == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		req.IdempotencyKey = "client-" + hex.EncodeToString(b[:])
	}
	e := newExecution(c)
	e.workflow = workflow
	e.start, _ = json.Marshal(req)
	return e, c.open(ctx, e)
}

// Subscribe follows an existing execution: stored events with seq >
// afterSeq, then live ones.
func (c *Client) Subscribe(ctx context.Context, executionID string, afterSeq uint64) (*Execution, error) {
	e := newExecution(c)
	e.id = executionID
	e.lastSeq = afterSeq
	return e, c.open(ctx, e)
}

// open registers e as live, sends (or queues) its request and waits for
// the first answer.
func (c *Client) open(ctx context.Context, e *Execution) error {
	c.mu.Lock()
	if err := c.usableLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	if c.conn == nil {
		n := len(c.queue) + c.pendingStartsLocked()
		switch {
		case c.opts.QueueWhileDisconnected <= 0:
			c.mu.Unlock()
			return errNotConnected()
		case n >= c.opts.QueueWhileDisconnected:
			c.mu.Unlock()
			return errQueueFull(n)
		}
		c.execs[e] = struct{}{} // subscribed by attach
	} else {
		c.execs[e] = struct{}{}
		c.subscribeLocked(e)
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e.readyErr
	case <-ctx.Done():
		e.close(ErrUnsubscribed)
		return ctx.Err()
	}
}

func (c *Client) pendingStartsLocked() int {
	n := 0
	for e := range c.execs {
		if !e.readyDone {
			n++
		}
	}
	return n
}

// subscribeLocked sends e's stream request on the current connection: the
// start while its id is unknown, else execution.subscribe after lastSeq.
func (c *Client) subscribeLocked(e *Execution) {
	o := &op{exec: e}
	if e.id == "" {
		o.service, o.request = "workflow.start", e.start
	} else {
		o.service = "execution.subscribe"
		o.request, _ = json.Marshal(map[string]any{"execution_id": e.id, "after_seq": e.lastSeq})
	}
	c.sendLocked(o)
	e.reqID = o.id
}

// onFrame handles a frame of e's stream (under c.mu); true ends the
// request id.
func (e *Execution) onFrame(f *inFrame) bool {
	c := e.c
	switch {
	case f.Error != nil:
		e.reqID = ""
		switch {
		case !e.readyDone:
			e.readyErr = f.Error
			delete(c.execs, e)
			e.markReady()
			e.end(f.Error)
		case f.Error.Retryable:
			c.retryLocked(e)
		default:
			delete(c.execs, e)
			e.end(f.Error)
		}
		return true
	case f.Type != "":
		var ev Event
		if err := json.Unmarshal(f.Data, &ev); err != nil {
			c.log.Warn("weft client: undecodable event", "err", err)
			return false
		}
		ev.Type, ev.Data = f.Type, f.Data
		if ev.Seq <= e.lastSeq {
			return false // already seen before a reconnect
		}
		if ev.Seq != e.lastSeq+1 {
			// A gap: never expected from the server. Follow again from
			// the last event seen rather than skip any.
			c.log.Warn("weft client: event gap, resubscribing", "execution", e.id, "seq", ev.Seq, "last", e.lastSeq)
			c.sendLocked(&op{service: "execution.unsubscribe", request: mustRaw(map[string]string{"subscription": e.reqID})})
			c.subscribeLocked(e)
			return true
		}
		if e.id == "" {
			e.id = ev.ExecutionID
		}
		e.lastSeq = ev.Seq
		e.retries = 0
		e.markReady()
		e.push(ev)
		if f.Complete || ev.Terminal() {
			e.reqID = ""
			delete(c.execs, e)
			e.end(nil)
			return true
		}
		return false
	default:
		var r struct {
			ExecutionID string `json:"execution_id"`
			Status      string `json:"status"`
		}
		_ = json.Unmarshal(f.Response, &r)
		if e.id == "" {
			e.id = r.ExecutionID
			e.start = nil
		}
		if r.Status != "" {
			e.status = r.Status
		}
		e.markReady()
		if f.Complete { // ended, nothing after lastSeq
			e.reqID = ""
			delete(c.execs, e)
			e.end(nil)
			return true
		}
		return false
	}
}

func (e *Execution) markReady() {
	if !e.readyDone {
		e.readyDone = true
		close(e.ready)
	}
}

// retryLocked follows e again after a retryable stream error (say
// RATE_LIMITED while many executions resubscribe at once), after a
// backoff.
func (c *Client) retryLocked(e *Execution) {
	e.retries++
	var t *time.Timer
	t = time.AfterFunc(c.opts.Reconnect.Delay(min(e.retries-1, 5)), func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.timers, t)
		if _, live := c.execs[e]; !live || c.closed || c.conn == nil || e.reqID != "" {
			return // ended, or a reconnect has resubscribed it
		}
		c.subscribeLocked(e)
	})
	c.timers[t] = struct{}{}
}

func mustRaw(v any) json.RawMessage {
	raw, _ := json.Marshal(v)
	return raw
}

func (e *Execution) push(ev Event) {
	e.qmu.Lock()
	e.queue = append(e.queue, ev)
	if ev.Terminal() {
		t := ev
		e.terminal = &t
	}
	e.qmu.Unlock()
	e.signal()
}

func (e *Execution) signal() {
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// end closes the stream: err is nil after a terminal event (or an ended
// execution with nothing more to send). Called under c.mu.
func (e *Execution) end(err error) {
	if !e.readyDone {
		e.readyErr = err
		e.markReady()
	}
	e.qmu.Lock()
	if e.ended {
		e.qmu.Unlock()
		return
	}
	e.ended = true
	e.err = err
	e.qmu.Unlock()
	close(e.finished)
	e.signal()
}

// close stops following e (Close, or Start's ctx done).
func (e *Execution) close(err error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, live := c.execs[e]; !live {
		return
	}
	delete(c.execs, e)
	if e.reqID != "" {
		delete(c.ops, e.reqID)
		if c.conn != nil {
			c.sendLocked(&op{service: "execution.unsubscribe", request: mustRaw(map[string]string{"subscription": e.reqID})})
		}
		e.reqID = ""
	}
	e.end(err)
}

// Close stops following the execution (it keeps running on the server);
// the events end with ErrUnsubscribed.
func (e *Execution) Close() { e.close(ErrUnsubscribed) }

// Next returns the next event. After the last one it returns io.EOF when
// the execution ended, else the reason the stream stopped (ErrClosed,
// a *Error such as WS_CONNECTION_FAILED, ErrUnsubscribed) or ctx's error.
func (e *Execution) Next(ctx context.Context) (Event, error) {
	for {
		e.qmu.Lock()
		if len(e.queue) > 0 {
			ev := e.queue[0]
			e.queue[0] = Event{}
			e.queue = e.queue[1:]
			e.qmu.Unlock()
			return ev, nil
		}
		if e.ended {
			err := e.err
			e.qmu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return Event{}, err
		}
		e.qmu.Unlock()
		select {
		case <-e.notify:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Events iterates over the events until the execution ends (or the stream
// stops: see Err).
func (e *Execution) Events() iter.Seq[Event] {
	return func(yield func(Event) bool) {
		for {
			ev, err := e.Next(context.Background())
			if err != nil || !yield(ev) {
				return
			}
		}
	}
}

// Chan returns a channel of the events, closed at the end (see Err). It is
// fed by one goroutine that Close stops.
func (e *Execution) Chan() <-chan Event {
	e.chanOnce.Do(func() {
		c := e.c
		ch := make(chan Event)
		e.eventsChan = ch
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			close(ch)
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer close(ch)
			for {
				ev, err := e.Next(c.ctx)
				if err != nil {
					return
				}
				select {
				case ch <- ev:
				case <-c.done:
					return
				}
			}
		}()
	})
	return e.eventsChan
}

// Done is closed when the stream has ended.
func (e *Execution) Done() <-chan struct{} { return e.finished }

// Err is why the stream stopped: nil while it runs and after the
// execution ended normally.
func (e *Execution) Err() error {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	return e.err
}

// Result waits for the end of the execution and returns its result, an
// *ExecutionError when it failed or was cancelled, or the reason the stream
// stopped. It does not consume events.
func (e *Execution) Result(ctx context.Context) (json.RawMessage, error) {
	select {
	case <-e.finished:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e.qmu.Lock()
	term, err := e.terminal, e.err
	e.qmu.Unlock()
	if err != nil {
		return nil, err
	}
	id := e.ID()
	if term == nil { // subscribed after the end: ask for the outcome
		snap, err := e.c.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		return snap.outcome()
	}
	var d struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"error"`
		Reason string `json:"reason"`
	}
	_ = term.DecodeDetails(&d)
	switch term.Type {
	case "execution_completed":
		return d.Result, nil
	case "execution_failed":
		xe := &ExecutionError{ExecutionID: id, Status: "failed"}
		if d.Error != nil {
			xe.Code, xe.Message = d.Error.Code, d.Error.Message
		}
		return nil, xe
	default:
		return nil, &ExecutionError{ExecutionID: id, Status: "cancelled", Message: d.Reason}
	}
}
