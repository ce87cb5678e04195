package client

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// Frame is one frame of a streamed answer (Stream): a response, or an
// event.
type Frame struct {
	Response json.RawMessage // a response frame's response; nil for an event
	Event    *Event          // an event frame's event; nil for a response
	Complete bool            // the request's last frame
}

// Stream sends a request whose answer is several frames (execution.replay,
// a workflow.start or execution.rerun that streams, execution.subscribe
// without the resume that Subscribe adds) and calls fn with each, in
// order, on the caller's goroutine, until the frame marked complete; then
// it returns nil. An error frame ends it with that *Error, fn's error ends
// it with that error, ctx ends it with ctx's error (the server is told to
// stop streaming). It is not sent again after a drop: a drop ends it with a
// retryable UNAVAILABLE (use Subscribe to follow an execution across
// drops).
func (c *Client) Stream(ctx context.Context, service string, request any, fn func(Frame) error) error {
	raw, err := encodeBody(request)
	if err != nil {
		return err
	}
	q := &frameQueue{notify: make(chan struct{}, 1)}
	o := &op{service: service, request: raw, onFrame: q.push, onDone: func(_ json.RawMessage, err error) { q.end(err) }}
	c.mu.Lock()
	err = c.submitLocked(o)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for {
		f, done, err := q.next(ctx)
		if done {
			return err
		}
		if err == nil {
			err = fn(f)
		}
		if err != nil {
			c.stopStream(o)
			return err
		}
	}
}

// stopStream forgets a stream its caller left and asks the server to stop
// it (execution.unsubscribe cancels any request by its id).
func (c *Client) stopStream(o *op) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops[o.id] != o {
		c.forgetLocked(o)
		return
	}
	delete(c.ops, o.id)
	if c.conn != nil {
		c.sendLocked(&op{service: "execution.unsubscribe", request: mustRaw(map[string]string{"subscription": o.id})})
	}
}

// frameQueue holds a stream's frames between the reader (push, under c.mu)
// and the caller of Stream (next): unbounded, so the reader never waits.
type frameQueue struct {
	mu     sync.Mutex
	frames []inFrame
	ended  bool
	err    error
	notify chan struct{}
}

func (q *frameQueue) push(f *inFrame) {
	q.mu.Lock()
	q.frames = append(q.frames, *f)
	q.mu.Unlock()
	q.wake()
}

func (q *frameQueue) end(err error) {
	q.mu.Lock()
	q.ended, q.err = true, err
	q.mu.Unlock()
	q.wake()
}

func (q *frameQueue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// next returns the next frame; done once the queue is drained and the
// stream has ended (err is then why: nil after the complete frame). A
// frame that cannot be decoded is an error.
func (q *frameQueue) next(ctx context.Context) (f Frame, done bool, err error) {
	for {
		q.mu.Lock()
		if len(q.frames) > 0 {
			in := q.frames[0]
			q.frames[0] = inFrame{}
			q.frames = q.frames[1:]
			q.mu.Unlock()
			f, err := frameOf(in)
			return f, false, err
		}
		if q.ended {
			q.mu.Unlock()
			return Frame{}, true, q.err
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
		case <-ctx.Done():
			return Frame{}, false, ctx.Err()
		}
	}
}

// frameOf decodes a stream's frame.
func frameOf(in inFrame) (Frame, error) {
	f := Frame{Complete: in.Complete}
	if in.Type == "" {
		f.Response = in.Response
		return f, nil
	}
	ev := &Event{}
	if err := json.Unmarshal(in.Data, ev); err != nil {
		return f, fmt.Errorf("client: undecodable %s event: %w", in.Type, err)
	}
	ev.Type, ev.Data = in.Type, in.Data
	f.Event = ev
	return f, nil
}

// ServerInfo is the answer of server.info: what the server is and the
// limits it holds every connection to.
type ServerInfo struct {
	Name     string         `json:"name"`
	Version  string         `json:"version"`
	Protocol string         `json:"protocol"`
	Build    map[string]any `json:"build,omitempty"`
	Limits   struct {
		MaxMessageBytes int `json:"max_message_bytes"`
		// MessagesPerSecond is the frames per second one connection may
		// send (a token bucket as deep as the rate); above it the server
		// answers RATE_LIMITED, and a client that stays above it for long
		// is closed.
		MessagesPerSecond float64 `json:"messages_per_second"`
	} `json:"limits"`
}

// ServerInfo asks the server what it is and its limits (server.info, no
// scope needed).
func (c *Client) ServerInfo(ctx context.Context) (ServerInfo, error) {
	var info ServerInfo
	err := c.call(ctx, "server.info", nil, &info)
	return info, err
}
