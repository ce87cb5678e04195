package ws

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
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
//
// A room's shared frame (pushShared) is written inline, by the goroutine
// that pushes it, when the outbox is idle (nothing queued, no writer
// draining) and the socket can take it at once: one non-blocking write
// syscall of the frame's bytes, no goroutine woken. Whatever the socket
// does not take (its send buffer is full: a slow reader) is handed to the
// writer goroutine, which writes the rest with the usual deadline; the
// pusher never waits for the peer. Frames pushed meanwhile queue behind,
// so a connection's frames never reorder.
type outbox struct {
	sock      *websocket.Conn
	writeWait time.Duration
	maxFrames int
	maxBytes  int
	onWritten func(frames int) // counts frames sent (metrics); may be nil
	// inlineOK: shared frames may be written inline (the socket is a
	// plain TCP socket without permessage-deflate; see allowInline).
	inlineOK bool

	// wmu is held by whoever writes the socket outside the writer's data
	// frames: a ping or pong (WriteControl), and an inline write, from its
	// syscall until its frame is complete (by the writer, when the socket
	// took only part of it). An inline write only TryLocks it: it never
	// waits behind a control frame stuck on a full socket.
	wmu sync.Mutex

	mu        sync.Mutex
	frames    []outFrame
	bytes     int
	writing   bool          // a writer goroutine is running
	lingering bool          // the writer is idle, waiting on wake
	inline    bool          // a shared frame is being written inline
	rest      []byte        // the end of an inline frame the socket did not take (wmu is held for it)
	closing   *closeRequest // written after the queue (or instead of it)
	done      bool          // the socket is closed
	closed    chan struct{} // closed once the socket is closed

	readerDone chan struct{} // closed when the read pump exits
	// Made on first use, so an idle connection holds neither.
	space chan struct{}   // signalled when the writer takes a batch (pushWait waits on it)
	wake  chan struct{}   // signalled when a lingering writer has work
	raw   *rawWriter      // the inline writer's syscall state
	rawc  syscall.RawConn // the socket's descriptor, for inline writes
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
	}
}

// allowInline lets shared frames be written inline when the socket is a
// plain TCP socket (not TLS) and compressed is false: an inline write is
// the frame's bytes as is, so a socket that negotiated permessage-deflate
// gets its frames through the writer (gorilla compresses them).
func (o *outbox) allowInline(compressed bool) {
	if compressed {
		return
	}
	if _, ok := o.sock.NetConn().(syscall.Conn); ok && inlineWrites {
		o.inlineOK = true
	}
}

// push queues a frame without waiting (the actor's frames). It reports
// false when the queue is over its bounds, reserve included: the client
// cannot keep up, and the caller closes it.
func (o *outbox) push(frame []byte) bool {
	o.mu.Lock()
	if o.inlineReadyLocked() {
		// Written inline, as a shared frame is (see pushShared): the
		// connection's answers and pushes start no goroutine either.
		return o.writeInlineLocked(textFrame(frame))
	}
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

// sharedFrame is a room's frame as every member's outbox takes it: the
// payload (for the byte bound), gorilla's PreparedMessage (queued frames,
// compressed sockets) and the uncompressed frame's bytes (inline writes).
type sharedFrame struct {
	data []byte
	pm   *websocket.PreparedMessage
	raw  []byte
}

// newSharedFrame frames a text message once for every member.
func newSharedFrame(data []byte) *sharedFrame {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err != nil {
		return nil
	}
	return &sharedFrame{data: data, pm: pm, raw: textFrame(data)}
}

// textFrame is data as one uncompressed server text frame: a header (FIN,
// opcode, unmasked length), then the payload.
func textFrame(data []byte) []byte {
	n := len(data)
	raw := make([]byte, 0, n+10)
	raw = append(raw, 0x81) // FIN, text
	switch {
	case n < 126:
		raw = append(raw, byte(n))
	case n <= 0xffff:
		raw = append(raw, 126, byte(n>>8), byte(n))
	default:
		raw = append(raw, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(raw, data...)
}

// pushShared queues a frame shared with other sockets, or writes it
// inline when the outbox is idle (see outbox). It reports false, as push,
// when the queue is over its bounds.
func (o *outbox) pushShared(f *sharedFrame) bool {
	o.mu.Lock()
	if o.inlineReadyLocked() {
		return o.writeInlineLocked(f.raw)
	}
	err := o.tryPushLocked(outFrame{data: f.data, prepared: f.pm}, reserveFrames)
	o.mu.Unlock()
	return err != errFull
}

// inlineReadyLocked reports whether the next frame may be written inline:
// inline writes are allowed, nothing is queued or being written, and no
// control frame holds the socket. When true, it holds wmu.
func (o *outbox) inlineReadyLocked() bool {
	return o.inlineOK && !o.done && o.closing == nil && !o.inline && o.rest == nil &&
		len(o.frames) == 0 && (!o.writing || o.lingering) && o.wmu.TryLock()
}

// writeInlineLocked writes raw (a whole frame) inline; mu and wmu are
// held (inlineReadyLocked), and mu is released. Frames pushed meanwhile
// queue behind it; whatever the socket did not take goes to the writer.
func (o *outbox) writeInlineLocked(raw []byte) bool {
	o.inline = true
	o.mu.Unlock()
	n, err := o.writeInline(raw)
	o.mu.Lock()
	o.inline = false
	switch {
	case o.done:
		// Closed meanwhile: nothing more is written.
		o.wmu.Unlock()
	case err != nil:
		// The socket is broken, as when the writer fails.
		o.wmu.Unlock()
		o.finishLocked()
	case n < len(raw):
		// The socket is full: the writer finishes the frame (and
		// unlocks wmu), then writes whatever was queued meanwhile.
		o.rest = raw[n:]
		o.startWriterLocked()
	default:
		o.wmu.Unlock()
		if len(o.frames) > 0 || o.closing != nil {
			o.startWriterLocked()
		}
	}
	o.mu.Unlock()
	if err == nil && o.onWritten != nil {
		o.onWritten(1)
	}
	return true
}

// rawWriter is one non-blocking write(2) of an inline frame, through the
// socket's RawConn (which keeps the descriptor open meanwhile). Only the
// outbox's inline writer uses it, one write at a time.
type rawWriter struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

func (w *rawWriter) write(fd uintptr) bool {
	w.n, w.err = writeNonBlocking(fd, w.b)
	return true // never wait for the socket: the writer does
}

// writeInline writes as much of b as the socket takes without blocking.
func (o *outbox) writeInline(b []byte) (int, error) {
	w := o.raw
	if w == nil {
		sc, err := o.sock.NetConn().(syscall.Conn).SyscallConn()
		if err != nil {
			return 0, err
		}
		w = &rawWriter{}
		w.fn = w.write
		o.raw, o.rawc = w, sc
	}
	w.b, w.n, w.err = b, 0, nil
	err := o.rawc.Write(w.fn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The deadline of an earlier write (the writer's, a ping's) has
		// passed: an inline write needs none, and every other write sets
		// its own.
		_ = o.sock.NetConn().SetWriteDeadline(time.Time{})
		err = o.rawc.Write(w.fn)
	}
	w.b = nil
	if err == nil {
		err = w.err
	}
	return w.n, err
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
		o.mu.Lock()
		if o.space == nil {
			o.space = make(chan struct{}, 1)
		}
		space := o.space
		o.mu.Unlock()
		select {
		case <-space:
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
	if o.done || o.inline {
		return // an inline write calls again when it is done
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
// It is the socket's only writer of data frames, but for inline writes,
// which happen only while it is not draining.
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
			o.dropRestLocked()
			o.mu.Unlock()
			return
		}
		if o.inline || (o.rest == nil && len(o.frames) == 0 && o.closing == nil) {
			if lingered {
				o.writing, o.lingering = false, false
				o.mu.Unlock()
				return
			}
			// Linger: pushes and closes from now on signal wake (a
			// token left from an earlier linger is dropped first). An
			// inline write in progress also signals it when done, if
			// anything is left to write.
			if o.wake == nil {
				o.wake = make(chan struct{}, 1)
			}
			wake := o.wake
			select {
			case <-wake:
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
			case <-wake:
				idle.Stop()
			case <-idle.C:
				lingered = true
			case <-o.closed:
			}
			continue
		}
		rest, batch, closing := o.rest, o.frames, o.closing
		o.rest, o.frames, o.bytes = nil, nil, 0
		o.lingering = false
		lingered = false
		space := o.space
		o.mu.Unlock()
		if space != nil {
			select {
			case space <- struct{}{}:
			default:
			}
		}
		if rest != nil {
			// The end of an inline frame: wmu is held for it.
			wait := o.writeWait + closeGrace
			if closing != nil {
				wait = closeGrace
			}
			nc := o.sock.NetConn()
			_ = nc.SetWriteDeadline(time.Now().Add(wait))
			_, err := nc.Write(rest)
			o.wmu.Unlock()
			if err != nil {
				o.abort()
				return
			}
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
			o.wmu.Lock()
			err := o.sock.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			o.wmu.Unlock()
			if err == nil {
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

// dropRestLocked gives up the end of an inline frame (the socket is
// closed), releasing the write side it held.
func (o *outbox) dropRestLocked() {
	if o.rest != nil {
		o.rest = nil
		o.wmu.Unlock()
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

// ping writes a heartbeat ping (WriteControl is safe beside the writer;
// wmu keeps it from splitting an inline frame the socket took only part
// of).
func (o *outbox) ping() error {
	return o.control(websocket.PingMessage, nil, time.Now().Add(o.writeWait))
}

// control writes a control frame beside the writer.
func (o *outbox) control(typ int, payload []byte, deadline time.Time) error {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	return o.sock.WriteControl(typ, payload, deadline)
}
