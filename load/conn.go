package load

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// frame is any server frame, decoded only as far as the tool needs.
type frame struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Response json.RawMessage `json:"response"`
	Data     struct {
		Timestamp time.Time       `json:"timestamp"`
		Seq       uint64          `json:"seq"`
		Details   json.RawMessage `json:"details"`
	} `json:"data"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Complete bool `json:"complete"`
}

// conn is one load-tool socket: a reader goroutine routes frames by id to
// whoever waits for them.
type conn struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
	mu      sync.Mutex
	waiters map[string]chan frame
	other   chan frame // frames with no waiter (pushes)
	done    chan struct{}
	err     error
}

func dial(t Target) (*conn, error) {
	h := http.Header{"Authorization": {"Bearer " + t.Token}}
	if t.UserAgent != "" {
		h.Set("User-Agent", t.UserAgent)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	ws, resp, err := d.Dial(t.socketURL(), h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &conn{ws: ws, waiters: map[string]chan frame{}, other: make(chan frame, 64), done: make(chan struct{})}
	var first frame
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.ReadJSON(&first); err != nil || first.Type != "connected" {
		ws.Close()
		return nil, fmt.Errorf("no connected frame: %v", err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	return c, nil
}

// run starts the reader; call once, for sockets that send requests.
func (c *conn) run() {
	go func() {
		defer close(c.done)
		for {
			var f frame
			if err := c.ws.ReadJSON(&f); err != nil {
				c.err = err
				return
			}
			c.mu.Lock()
			ch := c.waiters[f.ID]
			c.mu.Unlock()
			if ch == nil {
				select {
				case c.other <- f:
				default:
				}
				continue
			}
			ch <- f
		}
	}()
}

// request sends a request and returns the channel its frames arrive on.
func (c *conn) request(id, service string, req any) (<-chan frame, error) {
	ch := make(chan frame, 256)
	c.mu.Lock()
	c.waiters[id] = ch
	c.mu.Unlock()
	c.writeMu.Lock()
	err := c.ws.WriteJSON(map[string]any{"id": id, "service": service, "request": req})
	c.writeMu.Unlock()
	return ch, err
}

func (c *conn) forget(id string) {
	c.mu.Lock()
	delete(c.waiters, id)
	c.mu.Unlock()
}

func (c *conn) close() { _ = c.ws.Close() }
