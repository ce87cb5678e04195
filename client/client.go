package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Client is one logical connection to a weft server that survives drops.
// It is safe for concurrent use.
type Client struct {
	url  string
	opts Options
	log  *slog.Logger

	nextID atomic.Uint64
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   <-chan struct{} // ctx.Done()
	wg     sync.WaitGroup
	disp   *dispatcher

	mu       sync.Mutex
	conn     *conn                   // nil while disconnected
	info     Connected               // of the current (or last) connection
	closed   bool                    // Close was called
	failed   error                   // reconnecting gave up
	ops      map[string]*op          // in flight on conn, by request id
	queue    []*op                   // waiting for a connection
	execs    map[*Execution]struct{} // live executions (resubscribed after a drop)
	rooms    map[string]*Room        // joined rooms (re-joined after a drop)
	handlers map[int]func(Message)
	nextH    int
	timers   map[*time.Timer]struct{}
}

// Connected is the server's "connected" frame data.
type Connected struct {
	ConnectionID        string   `json:"connection_id"`
	Identity            string   `json:"identity"`
	Workspace           string   `json:"workspace"`
	Scopes              []string `json:"scopes"`
	HeartbeatIntervalMS int64    `json:"heartbeat_interval_ms"`
	Limits              struct {
		MaxMessageBytes   int `json:"max_message_bytes"`
		MessagesPerSecond int `json:"messages_per_second"`
	} `json:"limits"`
}

// Dial connects to a weft socket URL (ws://host/api/v1/socket) and
// authenticates. The first connection is attempted once: its error is
// returned as is (a *Error for a refusal). Drops after that are handled by
// the reconnect policy.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	c := &Client{
		url: rawURL, opts: opts, log: opts.Logger,
		ops:      map[string]*op{},
		execs:    map[*Execution]struct{}{},
		rooms:    map[string]*Room{},
		handlers: map[int]func(Message){},
		timers:   map[*time.Timer]struct{}{},
	}
	cn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.done = c.ctx.Done()
	c.disp = newDispatcher()
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.disp.run(c.done) }()
	c.attach(cn)
	go c.run(cn)
	return c, nil
}

// Info returns the connected frame of the current (or last) connection.
func (c *Client) Info() Connected {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// ConnectionID is the server's id of the current (or last) connection.
func (c *Client) ConnectionID() string { return c.Info().ConnectionID }

// OnMessage registers f for pushed messages: "message" (connection.send)
// and "room.message". f runs on the dispatcher goroutine and must not
// block for long. The returned function unregisters it.
func (c *Client) OnMessage(f func(Message)) (remove func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextH++
	h := c.nextH
	c.handlers[h] = f
	return func() {
		c.mu.Lock()
		delete(c.handlers, h)
		c.mu.Unlock()
	}
}

// Close closes the connection and stops every goroutine of the client.
// Pending requests fail and live executions end with ErrClosed. It waits
// for the goroutines until ctx is done.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.cancel()
	cn := c.conn
	c.failAllLocked(ErrClosed)
	for t := range c.timers {
		t.Stop()
	}
	c.mu.Unlock()
	c.notifyState(StateClosed, nil)
	if cn != nil {
		cn.close(websocket.CloseNormalClosure, "client closed")
	}
	waited := make(chan struct{})
	go func() { c.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

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

// ---- requests ----

// op is one request: a call (onDone gets its final frame) or an
// execution's stream (exec).
type op struct {
	service    string
	request    json.RawMessage
	idempotent bool
	id         string // request id on the current connection
	onDone     func(resp json.RawMessage, err error)
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

// ---- frames ----

type inFrame struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Response json.RawMessage `json:"response"`
	Data     json.RawMessage `json:"data"`
	Error    *Error          `json:"error"`
	Complete bool            `json:"complete"`
}

// route hands a frame to its request, or a push to its callbacks.
func (c *Client) route(cn *conn, f *inFrame) {
	if f.ID == "" {
		if f.Error != nil {
			c.log.Warn("weft client: error frame without id", "err", f.Error)
			return
		}
		c.push(f)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != cn {
		return
	}
	o, ok := c.ops[f.ID]
	if !ok {
		return // a request its caller stopped waiting for
	}
	if o.exec != nil {
		if o.exec.onFrame(f) {
			delete(c.ops, f.ID)
		}
		return
	}
	if f.Error == nil && !f.Complete {
		return // a non-final response of a plain call: not expected
	}
	delete(c.ops, f.ID)
	if f.Error != nil {
		o.finish(nil, f.Error)
	} else {
		o.finish(f.Response, nil)
	}
}

// Message is a pushed message: Type "message" (connection.send, From =
// the sender connection id) or "room.message" (Room set; From = sender
// connection id or "workflow:<execution id>").
type Message struct {
	Type     string
	Room     string
	From     string
	Identity string
	Body     json.RawMessage
}

// PresenceEvent is a room.joined / room.left push.
type PresenceEvent struct {
	Room         string `json:"room"`
	ConnectionID string `json:"connection_id"`
	Identity     string `json:"identity"`
}

func (c *Client) push(f *inFrame) {
	switch f.Type {
	case "message", "room.message":
		var d struct {
			Room     string          `json:"room"`
			From     string          `json:"from"`
			Identity string          `json:"identity"`
			Message  json.RawMessage `json:"message"`
		}
		if json.Unmarshal(f.Data, &d) != nil {
			return
		}
		m := Message{Type: f.Type, Room: d.Room, From: d.From, Identity: d.Identity, Body: d.Message}
		c.mu.Lock()
		var fs []func(Message)
		if r := c.rooms[d.Room]; r != nil && f.Type == "room.message" && r.onMessage != nil {
			fs = append(fs, r.onMessage)
		}
		for _, h := range c.handlers {
			fs = append(fs, h)
		}
		c.mu.Unlock()
		for _, h := range fs {
			c.disp.push(func() { h(m) })
		}
	case "room.joined", "room.left":
		var p PresenceEvent
		if json.Unmarshal(f.Data, &p) != nil {
			return
		}
		c.mu.Lock()
		r := c.rooms[p.Room]
		var h func(PresenceEvent)
		if r != nil {
			h = r.presence.OnJoined
			if f.Type == "room.left" {
				h = r.presence.OnLeft
			}
		}
		c.mu.Unlock()
		if h != nil {
			c.disp.push(func() { h(p) })
		}
	}
}

// ---- dispatcher ----

// dispatcher runs callbacks in order on one goroutine, so a slow callback
// never stalls the reader and callbacks may call the client.
type dispatcher struct {
	mu   sync.Mutex
	fs   []func()
	wake chan struct{}
}

func newDispatcher() *dispatcher { return &dispatcher{wake: make(chan struct{}, 1)} }

func (d *dispatcher) push(f func()) {
	d.mu.Lock()
	d.fs = append(d.fs, f)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			d.drain()
			return
		case <-d.wake:
			d.drain()
		}
	}
}

func (d *dispatcher) drain() {
	for {
		d.mu.Lock()
		fs := d.fs
		d.fs = nil
		d.mu.Unlock()
		if len(fs) == 0 {
			return
		}
		for _, f := range fs {
			f()
		}
	}
}
