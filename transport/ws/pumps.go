package ws

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"
)

// Messages the pumps send to their connection actor.
type (
	frameReceived struct{ data []byte }
	frameTooLarge struct{}
	socketClosed  struct{ err error }
	// binaryFrame: the client sent a binary frame (weft speaks JSON text).
	binaryFrame struct{}
	// invalidUTF8: a text frame was not UTF-8 (RFC 6455: close 1007).
	invalidUTF8 struct{}
)

// closeRequest asks the writer to close the socket with a code. With flush,
// frames already queued are written first.
type closeRequest struct {
	code   int
	reason string
	flush  bool
}

// reader is a socket's read pump: its only reader. It never buffers more
// than MaxMessageBytes+1 of a frame: a larger one is reported and the rest
// of it is never read.
//
// An idle socket costs one goroutine, parked in NextReader, and its stack
// is the runtime's minimum, 2 KiB: the pump's state lives here, on the heap,
// and each frame is handled by the goroutine that waited for it, which then
// exits (see run). A goroutine that once grew to 4 or 8 KiB keeps it while
// parked: a stack only shrinks when three quarters of it are free, and
// the wait alone uses more than a quarter of 4 KiB.
type reader struct {
	sock     *websocket.Conn
	root     *actor.RootContext
	self     *actor.PID
	maxBytes int
	deadline time.Duration // the peer is closed after this long silent
	out      *outbox       // pongs are written through it; its readerDone is closed when the pump exits
	ponging  atomic.Bool   // a pong is being written
}

// startReader sets the read deadline and the pong handler, then starts the
// read pump; out.readerDone is closed when it exits.
func startReader(sock *websocket.Conn, root *actor.RootContext, self *actor.PID, cfg Config, out *outbox) {
	p := &reader{sock: sock, root: root, self: self, maxBytes: cfg.MaxMessageBytes, deadline: 2 * cfg.HeartbeatInterval, out: out}
	_ = sock.SetReadDeadline(time.Now().Add(p.deadline))
	sock.SetPongHandler(p.pong)
	sock.SetPingHandler(p.ping)
	sock.SetCloseHandler(p.closed)
	go p.run()
}

// closed answers the peer's close frame as gorilla's default handler
// does, but through the outbox's write side (wmu): never inside an inline
// frame the socket has taken only part of.
func (p *reader) closed(code int, _ string) error {
	_ = p.out.control(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
	return nil
}

func (p *reader) pong(string) error {
	return p.sock.SetReadDeadline(time.Now().Add(p.deadline))
}

// ping answers a client's ping from a goroutine of its own: writing on the
// reader's stack would grow it for good. One pong at a time: a ping that
// arrives while one is written is not answered (RFC 6455 5.5.3 allows
// answering only the latest).
func (p *reader) ping(msg string) error {
	if p.ponging.CompareAndSwap(false, true) {
		go p.writePong([]byte(msg))
	}
	return nil
}

func (p *reader) writePong(payload []byte) {
	// Errors show on the next read, as with gorilla's own ping handler.
	_ = p.out.control(websocket.PongMessage, payload, time.Now().Add(time.Second))
	p.ponging.Store(false)
}

// run waits for the next frame and handles it, then hands the next wait
// to a fresh goroutine. Whatever ran deep while a frame was handled (a
// frame that arrived in pieces, permessage-deflate's reader, the actor
// send) leaves with the goroutine that grew, and the wait of an idle
// socket always happens on a minimal stack. The frame of run itself sits
// under that wait: it is kept small (no defer, no other locals).
func (p *reader) run() {
	typ, r, err := p.sock.NextReader()
	if p.frame(typ, r, err) {
		go p.run()
		return
	}
	close(p.out.readerDone)
}

// frame handles what NextReader returned; false when the socket is done.
//
//go:noinline
func (p *reader) frame(typ int, r io.Reader, err error) bool {
	if err != nil {
		p.root.Send(p.self, &socketClosed{err: err})
		return false
	}
	_ = p.sock.SetReadDeadline(time.Now().Add(p.deadline))
	data, err := p.read(r)
	if err != nil {
		p.root.Send(p.self, &socketClosed{err: err})
		return false
	}
	if len(data) > p.maxBytes {
		p.root.Send(p.self, &frameTooLarge{})
		// Keep reading (and dropping) until the peer answers our close:
		// closing with its data unread would reset the connection and
		// lose the error frame on the way.
		_ = p.sock.SetReadDeadline(time.Now().Add(closeGrace))
		_, _ = io.Copy(io.Discard, r)
		return true
	}
	switch {
	case typ == websocket.BinaryMessage:
		p.root.Send(p.self, &binaryFrame{})
	case typ != websocket.TextMessage:
	case !utf8.Valid(data):
		p.root.Send(p.self, &invalidUTF8{})
	default:
		p.root.Send(p.self, &frameReceived{data: data})
	}
	return true
}

// readBufs are the buffers frames are read into before being copied out at
// their size: one short-lived buffer per frame being read instead of
// io.ReadAll's growing ones, and none held by an idle socket.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// maxPooledReadBuf bounds the buffers kept in readBufs.
const maxPooledReadBuf = 64 << 10

// read returns the frame's payload, at most maxBytes+1 of it.
func (p *reader) read(r io.Reader) ([]byte, error) {
	bp := readBufs.Get().(*[]byte)
	buf, n := *bp, 0
	limit := p.maxBytes + 1
	for n < limit {
		if n == len(buf) {
			bigger := make([]byte, min(2*len(buf), limit))
			copy(bigger, buf)
			buf = bigger
		}
		m, err := r.Read(buf[n:min(len(buf), limit)])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			p.release(bp, buf)
			return nil, err
		}
	}
	data := make([]byte, n)
	copy(data, buf)
	p.release(bp, buf)
	return data, nil
}

func (p *reader) release(bp *[]byte, buf []byte) {
	if cap(buf) > maxPooledReadBuf {
		return
	}
	*bp = buf
	readBufs.Put(bp)
}

// closeCodeOf reports how the peer closed, for logs and metrics.
func closeCodeOf(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return websocket.CloseAbnormalClosure
}
