// Package driven is weft's "driven" mode: a workflow keeps an outbound
// WebSocket connection to an external server and sends and receives on it
// as recorded steps. A recorded send is not sent again when the workflow
// is re-run (after a restart); a recorded receive returns the recorded
// message.
//
// The connection is dialled lazily by the first step that needs it and
// dialled again after a drop, with the client's reconnect policy
// (client.ReconnectPolicy: min(Base*2^n, Max) with jitter). When it cannot
// connect the step fails with code WS_CONNECTION_FAILED, which is
// retryable: the step's retry policy decides what happens next.
//
//	conn := driven.New("wss://feed.example.com/ws", driven.Options{})
//	defer conn.Close()
//	if err := conn.Send(ctx, map[string]string{"subscribe": "prices"}); err != nil {
//		return err
//	}
//	tick, err := driven.Receive[Tick](ctx, conn)
package driven

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-run/weft/client"
	"github.com/weft-run/weft/workflows"
)

// CodeConnectionFailed is the code of a step that could not connect (or
// lost the connection while writing).
const CodeConnectionFailed = client.CodeConnectionFailed

// Options configure a Conn.
type Options struct {
	Header http.Header       // upgrade headers (e.g. Authorization)
	Dialer *websocket.Dialer // default websocket.DefaultDialer
	// Reconnect: dial attempts within one step attempt; MaxAttempts
	// defaults to 5, Base to 100 ms, Max to 5 s.
	Reconnect client.ReconnectPolicy
	// Retry is the step retry policy of Send, Receive and Request
	// (default workflows.DefaultRetryPolicy).
	Retry workflows.RetryPolicy
	// HandshakeTimeout bounds one dial (default 10 s).
	HandshakeTimeout time.Duration
	// Buffer is how many received messages wait for Receive (default 64);
	// past it the connection is not read (TCP backpressure).
	Buffer int
}

// Conn is an outbound WebSocket connection owned by a workflow. Create it
// in the workflow function and Close it before returning. It is safe for
// concurrent use by parallel branches.
type Conn struct {
	url  string
	opts Options

	in     chan []byte // received messages, across connections
	mu     sync.Mutex  // guards cur, closed
	cur    *link       // nil while disconnected
	closed bool
	wmu    sync.Mutex // one writer at a time
	wg     sync.WaitGroup
}

// link is one connection and its reader.
type link struct {
	ws   *websocket.Conn
	gone chan struct{} // closed when the reader has stopped
	stop chan struct{} // closed to stop the reader
	once sync.Once
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.stop)
		_ = l.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = l.ws.Close()
	})
}

// New returns a Conn to url; nothing is dialled until a step needs it.
func New(url string, opts Options) *Conn {
	if opts.Reconnect.MaxAttempts <= 0 {
		opts.Reconnect.MaxAttempts = 5
	}
	if opts.Reconnect.Base <= 0 {
		opts.Reconnect.Base = 100 * time.Millisecond
	}
	if opts.Reconnect.Max <= 0 {
		opts.Reconnect.Max = 5 * time.Second
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 64
	}
	return &Conn{url: url, opts: opts, in: make(chan []byte, opts.Buffer)}
}

// Send sends msg as a recorded step: a string, []byte or json.RawMessage
// goes as is, anything else as JSON. Like any WebSocket write, a message
// written just as the peer closes can be lost; use Request when the peer
// answers each message.
func (c *Conn) Send(ctx workflows.Context, msg any) error {
	data, err := encode(msg)
	if err != nil {
		return workflows.NonRetryable(err)
	}
	_, err = workflows.Task(ctx, "ws.send", func(stepCtx context.Context) (bool, error) {
		return true, c.write(stepCtx, data)
	}, workflows.WithInput(json.RawMessage(asJSON(data))), workflows.WithRetry(c.opts.Retry))
	return err
}

// Receive waits for the next message as a recorded step and decodes it
// into T. A text message that is not JSON decodes as a JSON string. It
// waits across reconnects: bound it with workflows.WithTimeout.
func Receive[T any](ctx workflows.Context, c *Conn, opts ...workflows.StepOption) (T, error) {
	opts = append([]workflows.StepOption{workflows.WithRetry(c.opts.Retry)}, opts...)
	return workflows.Task(ctx, "ws.receive", func(stepCtx context.Context) (T, error) {
		data, err := c.read(stepCtx)
		if err != nil {
			var zero T
			return zero, err
		}
		return decode[T](data)
	}, opts...)
}

// Request sends msg and waits for the next message, in one recorded step.
// If the connection drops before the reply, msg is sent again on the next
// one (WebSocket has no acknowledgements: a message written just as the
// peer closed can be lost), so the peer may see it more than once; a
// retry of the step sends it again too.
func Request[T any](ctx workflows.Context, c *Conn, msg any, opts ...workflows.StepOption) (T, error) {
	data, err := encode(msg)
	if err != nil {
		var zero T
		return zero, workflows.NonRetryable(err)
	}
	opts = append([]workflows.StepOption{workflows.WithRetry(c.opts.Retry), workflows.WithInput(json.RawMessage(asJSON(data)))}, opts...)
	return workflows.Task(ctx, "ws.request", func(stepCtx context.Context) (T, error) {
		reply, err := c.request(stepCtx, data)
		if err != nil {
			var zero T
			return zero, err
		}
		return decode[T](reply)
	}, opts...)
}

func decode[T any](data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(asJSON(data), &v); err != nil {
		return v, workflows.NonRetryable(fmt.Errorf("driven: decode message: %w", err))
	}
	return v, nil
}

// Close closes the connection and waits for its reader. Steps after it
// fail (not retryable).
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	l := c.cur
	c.cur = nil
	c.mu.Unlock()
	if l != nil {
		l.close()
	}
	c.wg.Wait()
	return nil
}

var errClosed = workflows.NonRetryable(errors.New("driven: connection closed by the workflow"))

// link returns the live connection, dialling with backoff when there is
// none.
func (c *Conn) link(ctx context.Context) (*link, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if c.cur != nil {
		return c.cur, nil
	}
	d := websocket.DefaultDialer
	if c.opts.Dialer != nil {
		d = c.opts.Dialer
	}
	var last error
	for n := 0; n < c.opts.Reconnect.MaxAttempts; n++ {
		if n > 0 {
			t := time.NewTimer(c.opts.Reconnect.Delay(n - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		dctx, cancel := context.WithTimeout(ctx, c.opts.HandshakeTimeout)
		ws, resp, err := d.DialContext(dctx, c.url, c.opts.Header)
		cancel()
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err == nil {
			l := &link{ws: ws, gone: make(chan struct{}), stop: make(chan struct{})}
			c.cur = l
			c.wg.Add(1)
			go c.readLoop(l)
			return l, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		last = err
	}
	return nil, workflows.Errorf(CodeConnectionFailed, "connect to %s: %d attempts: %v", c.url, c.opts.Reconnect.MaxAttempts, last)
}

// readLoop reads one connection until it fails, then forgets it.
func (c *Conn) readLoop(l *link) {
	defer c.wg.Done()
	defer close(l.gone)
	defer c.drop(l)
	for {
		_, data, err := l.ws.ReadMessage()
		if err != nil {
			return
		}
		select {
		case c.in <- data:
		case <-l.stop:
			return
		}
	}
}

// drop forgets l (the next step dials again) and closes it.
func (c *Conn) drop(l *link) {
	c.mu.Lock()
	if c.cur == l {
		c.cur = nil
	}
	c.mu.Unlock()
	l.close()
}

func (c *Conn) write(ctx context.Context, data []byte) error {
	l, err := c.link(ctx)
	if err != nil {
		return err
	}
	return c.writeOn(ctx, l, data)
}

func (c *Conn) writeOn(ctx context.Context, l *link, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = l.ws.SetWriteDeadline(deadline)
	if err := l.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		c.drop(l)
		return workflows.Errorf(CodeConnectionFailed, "write to %s: %v", c.url, err)
	}
	return nil
}

// request writes data and returns the next message; a drop before the
// reply sends data again on the next connection.
func (c *Conn) request(ctx context.Context, data []byte) ([]byte, error) {
	for {
		l, err := c.link(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.writeOn(ctx, l, data); err != nil {
			return nil, err
		}
		select {
		case reply := <-c.in:
			return reply, nil
		case <-l.gone:
			// The reader hands over every message before it stops: a
			// reply that made it is in c.in now; else send again.
			select {
			case reply := <-c.in:
				return reply, nil
			default:
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// read returns the next message, reconnecting when the connection drops.
func (c *Conn) read(ctx context.Context) ([]byte, error) {
	for {
		select { // messages already received come first, connected or not
		case data := <-c.in:
			return data, nil
		default:
		}
		l, err := c.link(ctx)
		if err != nil {
			return nil, err
		}
		select {
		case data := <-c.in:
			return data, nil
		case <-l.gone: // dial again
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func encode(msg any) ([]byte, error) {
	switch m := msg.(type) {
	case string:
		return []byte(m), nil
	case []byte:
		return m, nil
	case json.RawMessage:
		return m, nil
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("driven: encode message: %w", err)
	}
	return data, nil
}

// asJSON keeps JSON as is and makes any other text a JSON string.
func asJSON(data []byte) []byte {
	if json.Valid(data) {
		return data
	}
	s, _ := json.Marshal(string(data))
	return s
}
