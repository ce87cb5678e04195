package client

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Client is one logical connection to a weft server that survives drops.
// It is safe for concurrent use.
type Client struct {
	addr Address
	url  string // addr.Socket()
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

	httpOnce sync.Once
	http     *http.Client // for artifacts (artifacts.go)
}

// Connected is the server's "connected" frame data.
type Connected struct {
	ConnectionID        string   `json:"connection_id"`
	Identity            string   `json:"identity"`
	Workspace           string   `json:"workspace"`
	Scopes              []string `json:"scopes"`
	HeartbeatIntervalMS int64    `json:"heartbeat_interval_ms"`
	Limits              struct {
		MaxMessageBytes   int     `json:"max_message_bytes"`
		MessagesPerSecond float64 `json:"messages_per_second"` // frames per second the connection may send
	} `json:"limits"`
}

// Dial connects to the weft server at address and authenticates. address
// is any form ParseAddress accepts (http://host:port,
// ws://host:port/api/v1/socket, host:port, ...); a bad one is an *Error
// coded INVALID_REQUEST. The first connection is attempted once: its error
// is returned as is (a *Error for a refusal). Drops after that are handled
// by the reconnect policy.
func Dial(ctx context.Context, address string, opts Options) (*Client, error) {
	addr, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
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
		addr: addr, url: addr.Socket(), opts: opts, log: opts.Logger,
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

// Address is the server's address, as ParseAddress normalised it.
func (c *Client) Address() Address { return c.addr }

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
