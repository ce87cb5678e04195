package ws

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"

	"github.com/weft-run/weft"
)

// Messages the pumps send to their connection actor.
type (
	frameReceived struct{ data []byte }
	frameTooLarge struct{}
	socketClosed  struct{ err error }
)

// closeRequest asks the write pump to close the socket. With flush, frames
// already queued are written first (an auth_error before its 4001).
type closeRequest struct {
	code   int
	reason string
	flush  bool
}

// readPump is the socket's only reader. It never buffers more than
// MaxMessageBytes+1 of a frame: a larger one is reported and the rest of it
// is never read.
func readPump(sock *websocket.Conn, root *actor.RootContext, self *actor.PID, cfg Config) {
	deadline := 2 * cfg.HeartbeatInterval
	_ = sock.SetReadDeadline(time.Now().Add(deadline))
	sock.SetPongHandler(func(string) error {
		return sock.SetReadDeadline(time.Now().Add(deadline))
	})
	for {
		typ, r, err := sock.NextReader()
		if err != nil {
			root.Send(self, &socketClosed{err: err})
			return
		}
		_ = sock.SetReadDeadline(time.Now().Add(deadline))
		data, err := io.ReadAll(io.LimitReader(r, int64(cfg.MaxMessageBytes)+1))
		if err != nil {
			root.Send(self, &socketClosed{err: err})
			return
		}
		if len(data) > cfg.MaxMessageBytes {
			root.Send(self, &frameTooLarge{})
			return
		}
		if typ != websocket.TextMessage && typ != websocket.BinaryMessage {
			continue
		}
		root.Send(self, &frameReceived{data: data})
	}
}

// writePump is the socket's only writer: frames from the outbox, heartbeat
// pings, and the final close frame. It owns closing the socket.
func writePump(ctx context.Context, sock *websocket.Conn, outbox <-chan []byte, closing <-chan closeRequest, cfg Config) {
	ticker := time.NewTicker(cfg.HeartbeatInterval)
	defer ticker.Stop()
	defer sock.Close()
	write := func(frame []byte) error {
		_ = sock.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		return sock.WriteMessage(websocket.TextMessage, frame)
	}
	sendClose := func(code int, reason string) {
		msg := websocket.FormatCloseMessage(code, reason)
		_ = sock.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	for {
		select {
		case frame := <-outbox:
			if err := write(frame); err != nil {
				return
			}
		case <-ticker.C:
			if err := sock.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)); err != nil {
				return
			}
		case req := <-closing:
			if req.flush {
				drain(outbox, write)
			}
			sendClose(req.code, req.reason)
			return
		case <-ctx.Done():
			select {
			case req := <-closing:
				sendClose(req.code, req.reason)
			default:
			}
			return
		}
	}
}

// drain writes whatever is queued, without waiting for more.
func drain(outbox <-chan []byte, write func([]byte) error) {
	for {
		select {
		case frame := <-outbox:
			if write(frame) != nil {
				return
			}
		default:
			return
		}
	}
}

// closeCodeOf reports how the peer closed, for logs and metrics.
func closeCodeOf(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return websocket.CloseAbnormalClosure
}

var errSlowConsumer = weft.Errorf(weft.CodeUnavailable, "slow consumer: outbound queue full")
