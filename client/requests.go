package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// ---- requests ----

// op is one request: a call (onDone gets its final frame), a stream
// (onFrame gets every frame but an error, then onDone its end) or an
// execution's stream (exec).
type op struct {
	service    string
	request    json.RawMessage
	idempotent bool
	id         string // request id on the current connection
	onDone     func(resp json.RawMessage, err error)
	onFrame    func(f *inFrame) // called under c.mu; must not block
	exec       *Execution
	doneOnce   sync.Once
}

func (o *op) finish(resp json.RawMessage, err error) {
	o.doneOnce.Do(func() {
		if o.onDone != nil {
			o.onDone(resp, err)
		}
	})
}

// idempotentServices are sent again when the connection drops before
// their answer.
var idempotentServices = map[string]bool{
	"ping": true, "server.info": true, "workflow.list": true, "execution.get": true,
	"executions.list": true, "room.members": true, "connections.list": true,
	"execution.cancel": true, "room.join": true, "room.leave": true,
}

func (c *Client) newID() string { return "c" + strconv.FormatUint(c.nextID.Add(1), 10) }

// sendLocked gives o a fresh id and writes it on the current connection.
func (c *Client) sendLocked(o *op) {
	o.id = c.newID()
	c.ops[o.id] = o
	c.conn.enqueue(encodeRequest(o.id, o.service, o.request))
}

func encodeRequest(id, service string, request json.RawMessage) []byte {
	frame, _ := json.Marshal(struct {
		ID      string          `json:"id"`
		Service string          `json:"service"`
		Request json.RawMessage `json:"request,omitempty"`
	}{id, service, request})
	return frame
}

// usableLocked returns the error a new request gets now, if any.
func (c *Client) usableLocked() error {
	switch {
	case c.closed:
		return ErrClosed
	case c.failed != nil:
		return c.failed
	}
	return nil
}

// submitLocked sends o now, or queues it while disconnected (bounded),
// or fails fast.
func (c *Client) submitLocked(o *op) error {
	if err := c.usableLocked(); err != nil {
		return err
	}
	if c.conn != nil {
		c.sendLocked(o)
		return nil
	}
	n := len(c.queue) + c.pendingStartsLocked()
	switch {
	case c.opts.QueueWhileDisconnected <= 0:
		return errNotConnected()
	case n >= c.opts.QueueWhileDisconnected:
		return errQueueFull(n)
	}
	c.queue = append(c.queue, o)
	return nil
}

// forgetLocked drops a request that its caller no longer waits for.
func (c *Client) forgetLocked(o *op) {
	if c.ops[o.id] == o {
		delete(c.ops, o.id)
	}
	for i, q := range c.queue {
		if q == o {
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			break
		}
	}
}

// call sends a request and waits for its final answer, decoded into out.
func (c *Client) call(ctx context.Context, service string, request any, out any) error {
	raw, err := encodeBody(request)
	if err != nil {
		return err
	}
	type answer struct {
		resp json.RawMessage
		err  error
	}
	ch := make(chan answer, 1)
	o := &op{service: service, request: raw, idempotent: idempotentServices[service],
		onDone: func(resp json.RawMessage, err error) { ch <- answer{resp, err} }}
	c.mu.Lock()
	err = c.submitLocked(o)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case a := <-ch:
		if a.err != nil {
			return a.err
		}
		if out != nil && len(a.resp) > 0 {
			if err := json.Unmarshal(a.resp, out); err != nil {
				return fmt.Errorf("client: decode %s answer: %w", service, err)
			}
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		c.forgetLocked(o)
		c.mu.Unlock()
		return ctx.Err()
	}
}

func encodeBody(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("client: encode request: %w", err)
	}
	return raw, nil
}
