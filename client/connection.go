package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ---- connection ----

// conn is one WebSocket connection: a reader (the client's run loop) and
// a writer goroutine over an unbounded frame queue.
type conn struct {
	ws   *websocket.Conn
	info Connected

	mu   sync.Mutex
	out  [][]byte
	wake chan struct{}
	gone chan struct{} // closed when the reader has stopped
	once sync.Once
}

func (cn *conn) enqueue(frame []byte) {
	cn.mu.Lock()
	cn.out = append(cn.out, frame)
	cn.mu.Unlock()
	select {
	case cn.wake <- struct{}{}:
	default:
	}
}

// close sends a close frame (best effort) and closes the socket, which
// stops the reader and then the writer.
func (cn *conn) close(code int, reason string) {
	cn.once.Do(func() {
		_ = cn.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		_ = cn.ws.Close()
	})
}

// connect dials and authenticates once.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.HandshakeTimeout)
	defer cancel()
	u, err := url.Parse(c.url)
	if err != nil {
		return nil, &Error{Code: CodeInvalidRequest, Message: "client: bad URL: " + err.Error()}
	}
	header := http.Header{}
	for k, v := range c.opts.Header {
		header[k] = v
	}
	if ua := c.opts.userAgent(); ua != "" {
		header.Set("User-Agent", ua)
	}
	d := websocket.DefaultDialer
	if c.opts.Dialer != nil {
		d = c.opts.Dialer
	}
	dialer := *d
	switch c.opts.Auth {
	case AuthHeader:
		header.Set("Authorization", "Bearer "+c.opts.Token)
	case AuthQuery:
		q := u.Query()
		q.Set("token", c.opts.Token)
		u.RawQuery = q.Encode()
	case AuthSubprotocol:
		dialer.Subprotocols = []string{"weft.v1", "x-api-key." + c.opts.Token}
	}
	ws, resp, err := dialer.DialContext(ctx, u.String(), header)
	if err != nil {
		return nil, dialError(err, resp)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(deadline)
		_ = ws.SetWriteDeadline(deadline)
	}
	if c.opts.Auth == AuthInBand {
		if err := ws.WriteJSON(map[string]string{"type": "auth", "token": c.opts.Token}); err != nil {
			ws.Close()
			return nil, connFailed(err)
		}
	}
	for {
		var f inFrame
		_, data, err := ws.ReadMessage()
		if err == nil {
			err = json.Unmarshal(data, &f)
		}
		if err != nil {
			ws.Close()
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == 4001 {
				return nil, &Error{Code: CodeUnauthenticated, Message: ce.Text}
			}
			return nil, connFailed(err)
		}
		switch f.Type {
		case "connected":
			cn := &conn{ws: ws, wake: make(chan struct{}, 1), gone: make(chan struct{})}
			if err := json.Unmarshal(f.Data, &cn.info); err != nil {
				ws.Close()
				return nil, connFailed(err)
			}
			_ = ws.SetWriteDeadline(time.Time{})
			return cn, nil
		case "auth_error":
			ws.Close()
			if f.Error != nil {
				return nil, f.Error
			}
			return nil, &Error{Code: CodeUnauthenticated, Message: "authentication failed"}
		}
		// anything else before "connected" is ignored
	}
}

// dialError maps a failed upgrade: an HTTP refusal carries the protocol's
// error body; anything else is WS_CONNECTION_FAILED (retryable).
func dialError(err error, resp *http.Response) error {
	if resp != nil {
		defer resp.Body.Close()
		var body struct {
			Error *Error `json:"error"`
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &body) == nil && body.Error != nil && body.Error.Code != "" {
			return body.Error
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return &Error{Code: CodeUnauthenticated, Message: resp.Status}
		case http.StatusForbidden:
			return &Error{Code: CodeForbidden, Message: resp.Status}
		case http.StatusServiceUnavailable:
			return &Error{Code: CodeMaxConnectionsReached, Message: resp.Status, Retryable: true}
		}
	}
	return connFailed(err)
}

func connFailed(err error) *Error {
	return &Error{Code: CodeConnectionFailed, Message: err.Error(), Retryable: true}
}

// permanent reports whether a dial error should stop reconnecting: the
// server refused the credentials or the request.
func permanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && !e.Retryable
}

// run is the client's reader loop: it reads the current connection until
// it drops, then reconnects with backoff, forever or until the policy
// gives up or Close is called.
func (c *Client) run(cn *conn) {
	defer c.wg.Done()
	for {
		err := c.read(cn)
		if c.isClosed() {
			return
		}
		c.log.Info("weft client: connection lost", "err", err)
		if c.opts.Reconnect.Disabled {
			c.giveUp(cn, &Error{Code: CodeConnectionFailed, Message: "connection lost (reconnect disabled): " + err.Error(), Retryable: true})
			return
		}
		c.detach(cn)
		c.notifyState(StateReconnecting, err)
		next, err := c.reconnect()
		if next == nil {
			if err != nil {
				c.giveUp(nil, err)
			}
			return
		}
		c.attach(next)
		cn = next
	}
}

func (c *Client) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// reconnect dials with backoff. It returns nil, nil when Close was called.
func (c *Client) reconnect() (*conn, error) {
	policy := c.opts.Reconnect
	var last error
	for n := 0; policy.MaxAttempts <= 0 || n < policy.MaxAttempts; n++ {
		t := time.NewTimer(policy.Delay(n))
		select {
		case <-c.done:
			t.Stop()
			return nil, nil
		case <-t.C:
		}
		cn, err := c.connect(c.ctx)
		if err == nil {
			return cn, nil
		}
		if c.isClosed() {
			return nil, nil
		}
		c.log.Info("weft client: reconnect failed", "attempt", n+1, "err", err)
		last = err
		if permanent(err) {
			return nil, err
		}
	}
	return nil, &Error{Code: CodeConnectionFailed, Message: fmt.Sprintf("client: gave up reconnecting after %d attempts: %v", policy.MaxAttempts, last), Retryable: true}
}

// read runs the writer and reads frames until the connection fails.
func (c *Client) read(cn *conn) error {
	readTimeout := c.opts.ReadTimeout
	heartbeat := time.Duration(cn.info.HeartbeatIntervalMS) * time.Millisecond
	if readTimeout <= 0 {
		readTimeout = 60 * time.Second
		if heartbeat > 0 {
			readTimeout = 2*heartbeat + time.Second
		}
	}
	ping := c.opts.PingInterval
	if ping == 0 {
		ping = readTimeout / 3
		if heartbeat > 0 {
			ping = heartbeat / 2
		}
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.write(cn, ping)
	}()
	defer func() {
		cn.close(websocket.CloseNormalClosure, "")
		close(cn.gone)
		<-writerDone
	}()

	extend := func() { _ = cn.ws.SetReadDeadline(time.Now().Add(readTimeout)) }
	cn.ws.SetPingHandler(func(data string) error {
		extend()
		err := cn.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.opts.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		extend()
		_, data, err := cn.ws.ReadMessage()
		if err != nil {
			return err
		}
		var f inFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.log.Warn("weft client: undecodable frame", "err", err)
			continue
		}
		c.route(cn, &f)
	}
}

// write sends queued frames and the app-level ping until the reader stops.
func (c *Client) write(cn *conn, ping time.Duration) {
	var tick <-chan time.Time
	if ping > 0 {
		t := time.NewTicker(ping)
		defer t.Stop()
		tick = t.C
	}
	pingFrame := []byte(`{"type":"ping"}`)
	for {
		select {
		case <-cn.gone:
			return
		case <-tick:
			cn.enqueue(pingFrame)
		case <-cn.wake:
			cn.mu.Lock()
			out := cn.out
			cn.out = nil
			cn.mu.Unlock()
			for _, frame := range out {
				_ = cn.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
				if err := cn.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
					_ = cn.ws.Close() // the reader sees it and reconnects
					<-cn.gone
					return
				}
			}
		}
	}
}

// attach makes cn current: rooms are re-joined, live executions
// resubscribed from their last seq, then queued requests are sent.
func (c *Client) attach(cn *conn) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.close(websocket.CloseNormalClosure, "client closed")
		return
	}
	c.conn = cn
	c.info = cn.info
	for _, r := range c.rooms {
		c.sendLocked(r.joinOp())
	}
	for e := range c.execs {
		c.subscribeLocked(e)
	}
	queue := c.queue
	c.queue = nil
	for _, o := range queue {
		c.sendLocked(o)
	}
	c.mu.Unlock()
	c.notifyState(StateConnected, nil)
}

// detach forgets cn: its stream ids are gone (the executions are
// resubscribed on the next connection); when queueing is on, idempotent
// requests in flight are queued again (beyond the bound: they were
// accepted); the others fail with a retryable UNAVAILABLE.
func (c *Client) detach(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != cn {
		return
	}
	c.conn = nil
	ops := c.ops
	c.ops = map[string]*op{}
	var requeue []*op
	for _, o := range ops {
		switch {
		case o.exec != nil:
			o.exec.reqID = ""
		case o.idempotent && c.opts.QueueWhileDisconnected > 0:
			requeue = append(requeue, o)
		default:
			o.finish(nil, errConnectionLost())
		}
	}
	c.queue = append(requeue, c.queue...)
}

// giveUp fails everything: reconnecting is over.
func (c *Client) giveUp(cn *conn, err error) {
	c.mu.Lock()
	if cn != nil && c.conn == cn {
		c.conn = nil
	}
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.failed = err
	c.failAllLocked(err)
	c.mu.Unlock()
	c.notifyState(StateFailed, err)
}

func (c *Client) failAllLocked(err error) {
	for _, o := range c.ops {
		if o.exec == nil {
			o.finish(nil, err)
		}
	}
	for _, o := range c.queue {
		o.finish(nil, err)
	}
	for e := range c.execs {
		e.end(err)
	}
	c.ops = map[string]*op{}
	c.queue = nil
	c.execs = map[*Execution]struct{}{}
}

func (c *Client) notifyState(s State, err error) {
	if f := c.opts.OnStateChange; f != nil && c.disp != nil {
		c.disp.push(func() { f(s, err) })
	}
}
