package refserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Mode is how a broadcast reaches its members' sockets.
type Mode string

const (
	// Inline: the broadcaster writes the prepared frame to every member
	// itself, under each member's write mutex.
	Inline Mode = "inline"
	// Writer: every connection has a writer goroutine with a small queue;
	// a broadcast queues the prepared frame on each.
	Writer Mode = "writer"
)

// Options configure a Server. The zero value is the default.
type Options struct {
	Mode         Mode          // default Inline
	QueueFrames  int           // Writer: frames queued per connection before it is closed as slow (default 256)
	WriteTimeout time.Duration // per fan-out (Inline) or frame (Writer), default 10 s
	// Workers: Inline splits a fan-out over this many goroutines, each
	// writing a contiguous share of the members (default GOMAXPROCS;
	// rooms under 256 members are written by the broadcaster alone).
	Workers int
}

// Server is the reference broadcast server. It is an http.Handler.
type Server struct {
	opts   Options
	up     websocket.Upgrader
	nextID atomic.Uint64

	mu    sync.Mutex
	rooms map[string]*room
	conns map[*conn]struct{}
}

// New returns a server with no rooms.
func New(o Options) *Server {
	if o.Mode == "" {
		o.Mode = Inline
	}
	if o.QueueFrames <= 0 {
		o.QueueFrames = 256
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return &Server{
		opts: o,
		up: websocket.Upgrader{
			ReadBufferSize: 1024,
			// Prepared frames bypass the write buffer; answers borrow one
			// from the pool only while they are written.
			WriteBufferPool: &sync.Pool{},
			CheckOrigin:     func(*http.Request) bool { return true },
		},
		rooms: map[string]*room{},
		conns: map[*conn]struct{}{},
	}
}

// ServeHTTP serves /api/v1/socket (and /ws) and /readyz.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/v1/socket", "/ws":
		s.serveSocket(w, r)
	case "/readyz", "/healthz":
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

// Listen listens on addr, which must be a loopback address (the server
// has no auth and no limits).
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("refserver: %q is not a loopback address", addr)
	}
	return net.Listen("tcp", addr)
}

// Serve serves ln until ctx is done, then closes every socket.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
		s.closeAll()
	}()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) closeAll() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// room is a mutex-protected set of connections. members is the set as a
// slice for broadcasts, rebuilt only when the set changed.
type room struct {
	mu      sync.Mutex
	set     map[*conn]struct{}
	members []*conn // nil: rebuild from set
}

func (r *room) snapshot() []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.members == nil {
		r.members = make([]*conn, 0, len(r.set))
		for c := range r.set {
			r.members = append(r.members, c)
		}
	}
	return r.members
}

func (s *Server) join(c *conn, name string) int {
	s.mu.Lock()
	r := s.rooms[name]
	if r == nil {
		r = &room{set: map[*conn]struct{}{}}
		s.rooms[name] = r
	}
	r.mu.Lock()
	s.mu.Unlock()
	if _, ok := r.set[c]; !ok {
		r.set[c] = struct{}{}
		r.members = nil
	}
	n := len(r.set)
	r.mu.Unlock()
	return n
}

func (s *Server) leave(c *conn, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set[c]; ok {
		delete(r.set, c)
		r.members = nil
	}
	if len(r.set) == 0 {
		delete(s.rooms, name)
	}
	return len(r.set)
}

func (s *Server) room(name string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[name]
}

// broadcast pushes message to every member of room but from, and returns
// (delivered_to, subscriber_count) as weft counts them: every member but
// the sender that the frame was handed to.
func (s *Server) broadcast(from *conn, name string, message json.RawMessage) (int, int, error) {
	r := s.room(name)
	if r == nil {
		return 0, 0, nil
	}
	push, err := json.Marshal(roomMessage{Type: "room.message", Data: roomMessageData{
		From: from.id, Identity: from.identity, Message: message, Room: name,
	}})
	if err != nil {
		return 0, 0, err
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, push)
	if err != nil {
		return 0, 0, err
	}
	members := r.snapshot()
	deadline := time.Now().Add(s.opts.WriteTimeout)
	write := func(share []*conn) int {
		n := 0
		for _, m := range share {
			if m != from && m.send(pm, deadline) {
				n++
			}
		}
		return n
	}
	workers := s.opts.Workers
	if s.opts.Mode != Inline || len(members) < 256 {
		workers = 1
	}
	if workers == 1 {
		return write(members), len(members), nil
	}
	// Each worker writes a contiguous share; the broadcaster writes the
	// last share itself and waits for the others, so a member still gets
	// broadcasts in the order they were sent.
	var delivered atomic.Int64
	var wg sync.WaitGroup
	size := (len(members) + workers - 1) / workers
	for lo := 0; lo < len(members); lo += size {
		share := members[lo:min(lo+size, len(members))]
		if lo+size >= len(members) {
			delivered.Add(int64(write(share)))
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			delivered.Add(int64(write(share)))
		}()
	}
	wg.Wait()
	return int(delivered.Load()), len(members), nil
}

// roomMessage is weft's room.message push (fields in the order weft's map
// encoding gives them, so frames are the same size).
type roomMessage struct {
	Type string          `json:"type"`
	Data roomMessageData `json:"data"`
}

type roomMessageData struct {
	From     string          `json:"from"`
	Identity string          `json:"identity"`
	Message  json.RawMessage `json:"message"`
	Room     string          `json:"room"`
}

// conn is one socket. Its reader is the HTTP handler's goroutine.
type conn struct {
	s        *Server
	ws       *websocket.Conn
	id       string
	identity string
	rooms    map[string]bool // reader goroutine only

	wmu       sync.Mutex // Inline: one writer at a time
	out       chan *websocket.PreparedMessage
	done      chan struct{}
	closeOnce sync.Once
}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(64 << 10)
	c := &conn{
		s: s, ws: ws, id: "ws_ref" + strconv.FormatUint(s.nextID.Add(1), 10), identity: "bench",
		rooms: map[string]bool{}, done: make(chan struct{}),
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	if s.opts.Mode == Writer {
		c.out = make(chan *websocket.PreparedMessage, s.opts.QueueFrames)
		go c.writer()
	}
	defer func() {
		for name := range c.rooms {
			s.leave(c, name)
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.close()
	}()
	c.reply(push{Type: "connected", Data: map[string]any{
		"connection_id": c.id, "identity": c.identity, "workspace": "bench", "scopes": []string{"admin"},
	}})
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		c.handle(data)
	}
}

type request struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Service string          `json:"service"`
	Request json.RawMessage `json:"request"`
}

type response struct {
	ID       string `json:"id"`
	Response any    `json:"response"`
	Complete bool   `json:"complete"`
}

type errorFrame struct {
	ID    string    `json:"id,omitempty"`
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

type push struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

type roomCount struct {
	Room    string `json:"room"`
	Members int    `json:"members"`
}

type broadcastResult struct {
	Broadcast       bool `json:"broadcast"`
	DeliveredTo     int  `json:"delivered_to"`
	SubscriberCount int  `json:"subscriber_count"`
}

func (c *conn) handle(data []byte) {
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		c.reply(errorFrame{Error: errorBody{Code: "INVALID_REQUEST", Message: "frame is not JSON"}})
		return
	}
	if req.Type == "ping" {
		c.reply(push{Type: "pong", Data: map[string]any{"timestamp": time.Now().UTC()}})
		return
	}
	var body struct {
		Room    string          `json:"room"`
		Message json.RawMessage `json:"message"`
	}
	if len(req.Request) > 0 {
		if err := json.Unmarshal(req.Request, &body); err != nil {
			c.reply(errorFrame{ID: req.ID, Error: errorBody{Code: "INVALID_REQUEST", Message: err.Error()}})
			return
		}
	}
	switch req.Service {
	case "room.join", "room.leave", "room.broadcast":
		if body.Room == "" {
			c.reply(errorFrame{ID: req.ID, Error: errorBody{Code: "INVALID_REQUEST", Message: "room is required"}})
			return
		}
	default:
		c.reply(errorFrame{ID: req.ID, Error: errorBody{Code: "UNKNOWN_SERVICE", Message: fmt.Sprintf("unknown service %q", req.Service)}})
		return
	}
	switch req.Service {
	case "room.join":
		c.rooms[body.Room] = true
		c.reply(response{ID: req.ID, Response: roomCount{Room: body.Room, Members: c.s.join(c, body.Room)}, Complete: true})
	case "room.leave":
		delete(c.rooms, body.Room)
		c.reply(response{ID: req.ID, Response: roomCount{Room: body.Room, Members: c.s.leave(c, body.Room)}, Complete: true})
	case "room.broadcast":
		if len(body.Message) == 0 {
			c.reply(errorFrame{ID: req.ID, Error: errorBody{Code: "INVALID_REQUEST", Message: "message must be JSON"}})
			return
		}
		n, m, err := c.s.broadcast(c, body.Room, body.Message)
		if err != nil {
			c.reply(errorFrame{ID: req.ID, Error: errorBody{Code: "INTERNAL", Message: err.Error()}})
			return
		}
		c.reply(response{ID: req.ID, Response: broadcastResult{Broadcast: true, DeliveredTo: n, SubscriberCount: m}, Complete: true})
	}
}

// reply encodes v and sends it on this connection.
func (c *conn) reply(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	if c.out == nil {
		c.wmu.Lock()
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
		err = c.ws.WriteMessage(websocket.TextMessage, data)
		c.wmu.Unlock()
		if err != nil {
			c.close()
		}
		return
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err == nil {
		c.send(pm, time.Time{})
	}
}

// send hands a prepared frame to the connection: written now (Inline,
// with deadline) or queued for its writer (Writer; a full queue closes the
// connection as too slow). It reports whether the frame was handed over.
func (c *conn) send(pm *websocket.PreparedMessage, deadline time.Time) bool {
	if c.out == nil {
		c.wmu.Lock()
		_ = c.ws.SetWriteDeadline(deadline)
		err := c.ws.WritePreparedMessage(pm)
		c.wmu.Unlock()
		if err != nil {
			c.close()
			return false
		}
		return true
	}
	select {
	case c.out <- pm:
		return true
	case <-c.done:
		return false
	default:
		c.close()
		return false
	}
}

// writer writes queued frames (Writer mode).
func (c *conn) writer() {
	for {
		select {
		case pm := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
			if err := c.ws.WritePreparedMessage(pm); err != nil {
				c.close()
				return
			}
		case <-c.done:
			return
		}
	}
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}
