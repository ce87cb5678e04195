package ws

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// outbox is a connection's bounded queue of encoded frames, and the writer
// that drains it. The writer goroutine exists only while there is something
// to write, and for writerLinger after: an idle connection costs one
// goroutine (its reader), which is what keeps ten thousand idle sockets
// cheap, while a busy one (a room broadcasting several times a second)
// keeps one writer instead of starting and stopping one per frame.
//
// The connection actor pushes; the writer pops. Both sides take mu briefly;
// the socket write itself happens outside it.
type outbox struct {
	sock      *websocket.Conn
	writeWait time.Duration
	maxFrames int
	maxBytes  int
	onWritten func(frames int) // counts frames sent (metrics); may be nil

	mu        sync.Mutex
	frames    []outFrame
	bytes     int
	writing   bool          // a writer goroutine is running
	lingering bool          // the writer is idle, waiting on wake
	closing   *closeRequest // written after the queue (or instead of it)
	done      bool          // the socket is closed
	closed    chan struct{} // closed once the socket is closed

	readerDone chan struct{} // closed when the read pump exits
	space      chan struct{} // signalled when the writer takes a batch
	wake       chan struct{} // signalled when a lingering writer has work
}

// outFrame is one queued frame: its bytes, or a frame prepared once for
// every socket a broadcast goes to (then data is the payload, for the
// byte bound).
type outFrame struct {
	data     []byte
	prepared *websocket.PreparedMessage
}

// writerLinger is how long a writer that drained its queue waits for more
// before it exits.
const writerLinger = time.Second

// reserveFrames lets the actor's own frames (errors, pongs, the final frame
// of a stream) through when a burst from a request has filled the queue.
const reserveFrames = 64

// closeGrace is how long a close waits for the peer's close frame before
// dropping the TCP connection.
const closeGrace = 2 * time.Second

func newOutbox(sock *websocket.Conn, cfg Config) *outbox {
	return &outbox{
		sock: sock, writeWait: cfg.WriteTimeout,
		maxFrames: cfg.OutboxFrames, maxBytes: cfg.OutboxBytes,
		closed:     make(chan struct{}),
		readerDone: make(chan struct{}),
		space:      make(chan struct{}, 1),
		wake:       make(chan struct{}, 1),
	}
}

// push queues a frame without waiting (the actor's frames). It reports
// false when the queue is over its bounds, reserve included: the client
// cannot keep up, and the caller closes it.
func (o *outbox) push(frame []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tryPushLocked(outFrame{data: frame}, reserveFrames) != errFull
}

// pushPrepared queues a frame shared with other sockets, as push does.
// data is its payload (counted against the byte bound: it is what this
// client owes, even if the memory is shared).
func (o *outbox) pushPrepared(pm *websocket.PreparedMessage, data []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tryPushLocked(outFrame{data: data, prepared: pm}, reserveFrames) != errFull
}

var (
	errFull         = errors.New("outbox full")
	errOutboxClosed = errors.New("connection closing")
)

func (o *outbox) tryPushLocked(frame outFrame, reserve int) error {
	if o.done || o.closing != nil {
		return errOutboxClosed
	}
	if len(o.frames) >= o.maxFrames+reserve || (len(o.frames) > 0 && o.bytes+len(frame.data) > o.maxBytes+reserve*1024) {
		return errFull
	}
	o.frames = append(o.frames, frame)
	o.bytes += len(frame.data)
	o.startWriterLocked()
	return nil
}

// pushWait queues a frame from a request's stream, waiting up to the write
// timeout for room: a burst (a catch-up read from the store) is paced by the
// client's reading instead of closing it. It fails with errFull when the
// client did not make room in time: a slow consumer.
func (o *outbox) pushWait(ctx context.Context, frame []byte) error {
	var deadline <-chan time.Time
	for {
		o.mu.Lock()
		err := o.tryPushLocked(outFrame{data: frame}, 0)
		o.mu.Unlock()
		if err != errFull {
			return err
		}
		if deadline == nil {
			t := time.NewTimer(o.writeWait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-o.space:
		case <-deadline:
			return errFull
		case <-o.closed:
			return errOutboxClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
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
		// A write blocked on a full TCP buffer gets closeGrace to finish
		// (the client may still read, then see the 1013); after that the
		// connection is dropped without a close frame.
		_ = o.sock.UnderlyingConn().SetWriteDeadline(time.Now().Add(closeGrace))
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

// startWriterLocked makes sure a writer will see the queue: it starts one,
// or wakes the lingering one.
func (o *outbox) startWriterLocked() {
	if o.done {
		return
	}
	if o.writing {
		if o.lingering {
			o.lingering = false
			select {
			case o.wake <- struct{}{}:
			default:
			}
		}
		return
	}
	o.writing = true
	go o.write()
}

// write drains the queue, waits up to writerLinger for more, then exits.
// It is the socket's only writer of data frames.
func (o *outbox) write() {
	var idle *time.Timer // made on the first linger, reused after
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	lingered := false // the last wait ran out
	for {
		o.mu.Lock()
		if o.done {
			o.mu.Unlock()
			return
		}
		batch, closing := o.frames, o.closing
		o.frames, o.bytes = nil, 0
		if len(batch) == 0 && closing == nil {
			if lingered {
				o.writing, o.lingering = false, false
				o.mu.Unlock()
				return
			}
			// Linger: pushes and closes from now on signal wake (a
			// token left from an earlier linger is dropped first).
			select {
			case <-o.wake:
			default:
			}
			o.lingering = true
			o.mu.Unlock()
			if idle == nil {
				idle = time.NewTimer(writerLinger)
			} else {
				idle.Reset(writerLinger)
			}
			select {
			case <-o.wake:
				idle.Stop()
			case <-idle.C:
				lingered = true
			case <-o.closed:
			}
			continue
		}
		lingered = false
		o.mu.Unlock()
		select {
		case o.space <- struct{}{}:
		default:
		}
		for _, f := range batch {
			// Longer than pushWait's wait: a stalled client is first
			// detected there and closed with 1013, within closeGrace.
			_ = o.sock.SetWriteDeadline(time.Now().Add(o.writeWait + closeGrace))
			var err error
			if f.prepared != nil {
				err = o.sock.WritePreparedMessage(f.prepared)
			} else {
				err = o.sock.WriteMessage(websocket.TextMessage, f.data)
			}
			if err != nil {
				o.abort()
				return
			}
		}
		if o.onWritten != nil && len(batch) > 0 {
			o.onWritten(len(batch))
		}
		if closing != nil && len(batch) == 0 {
			msg := websocket.FormatCloseMessage(closing.code, closing.reason)
			if o.sock.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)) == nil {
				// The closing handshake: the read pump sees the peer's
				// close frame and exits. A peer that does not answer, or
				// keeps sending frames instead (each would push the read
				// deadline on), is dropped after closeGrace whatever it
				// sends: a closing socket frees its slot.
				grace := time.NewTimer(closeGrace)
				select {
				case <-o.readerDone:
				case <-grace.C:
				}
				grace.Stop()
			}
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
