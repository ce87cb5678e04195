package ws

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// outbox is a connection's bounded queue of encoded frames, and the writer
// that drains it. The writer goroutine exists only while there is something
// to write: an idle connection costs one goroutine (its reader), which is
// what keeps ten thousand idle sockets cheap.
//
// The connection actor pushes; the writer pops. Both sides take mu briefly;
// the socket write itself happens outside it.
type outbox struct {
	sock      *websocket.Conn
	writeWait time.Duration
	maxFrames int
	maxBytes  int
	onWritten func(frames int) // counts frames sent (metrics); may be nil

	mu      sync.Mutex
	frames  [][]byte
	bytes   int
	writing bool          // a writer goroutine is running
	closing *closeRequest // written after the queue (or instead of it)
	done    bool          // the socket is closed
	closed  chan struct{} // closed once the socket is closed
}

func newOutbox(sock *websocket.Conn, cfg Config) *outbox {
	return &outbox{
		sock: sock, writeWait: cfg.WriteTimeout,
		maxFrames: cfg.OutboxFrames, maxBytes: cfg.OutboxBytes,
		closed: make(chan struct{}),
	}
}

// push queues a frame. It reports false when the queue is over its bounds:
// the client cannot keep up, and the caller closes it.
func (o *outbox) push(frame []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done || o.closing != nil {
		return true // closing: drop silently
	}
	if len(o.frames) >= o.maxFrames || o.bytes+len(frame) > o.maxBytes {
		return false
	}
	o.frames = append(o.frames, frame)
	o.bytes += len(frame)
	o.startWriterLocked()
	return true
}

// close asks for a close frame with code. With flush, queued frames are
// written first (an auth_error before its 4001); without, they are dropped
// (a slow consumer gets its 1013 as soon as possible).
func (o *outbox) close(req closeRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done || o.closing != nil {
		return
	}
	if !req.flush {
		o.frames, o.bytes = nil, 0
		// A write blocked on a full TCP buffer would hold the close frame
		// back for the whole write timeout: cut it short.
		_ = o.sock.UnderlyingConn().SetWriteDeadline(time.Now().Add(time.Second))
	}
	o.closing = &req
	o.startWriterLocked()
}

// abort closes the socket at once, without a close frame (the peer is gone).
func (o *outbox) abort() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finishLocked()
}

func (o *outbox) startWriterLocked() {
	if o.writing || o.done {
		return
	}
	o.writing = true
	go o.write()
}

// write drains the queue, then exits. It is the socket's only writer of
// data frames.
func (o *outbox) write() {
	for {
		o.mu.Lock()
		batch, closing := o.frames, o.closing
		o.frames, o.bytes = nil, 0
		if len(batch) == 0 && closing == nil {
			o.writing = false
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		for _, frame := range batch {
			_ = o.sock.SetWriteDeadline(time.Now().Add(o.writeWait))
			if err := o.sock.WriteMessage(websocket.TextMessage, frame); err != nil {
				o.abort()
				return
			}
		}
		if o.onWritten != nil && len(batch) > 0 {
			o.onWritten(len(batch))
		}
		if closing != nil && len(batch) == 0 {
			msg := websocket.FormatCloseMessage(closing.code, closing.reason)
			_ = o.sock.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			o.abort()
			return
		}
	}
}

func (o *outbox) finishLocked() {
	if o.done {
		return
	}
	o.done = true
	o.writing = false
	o.frames = nil
	_ = o.sock.Close()
	close(o.closed)
}

// ping writes a heartbeat ping (WriteControl is safe beside the writer).
func (o *outbox) ping() error {
	return o.sock.WriteControl(websocket.PingMessage, nil, time.Now().Add(o.writeWait))
}
