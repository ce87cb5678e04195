package ws

import (
	"errors"
	"io"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"
)

// Messages the pumps send to their connection actor.
type (
	frameReceived struct{ data []byte }
	frameTooLarge struct{}
	socketClosed  struct{ err error }
)

// closeRequest asks the writer to close the socket with a code. With flush,
// frames already queued are written first.
type closeRequest struct {
	code   int
	reason string
	flush  bool
}

// readPump is the socket's only reader. It never buffers more than
// MaxMessageBytes+1 of a frame: a larger one is reported and the rest of it
// is never read.
func readPump(sock *websocket.Conn, root *actor.RootContext, self *actor.PID, cfg Config, done chan<- struct{}) {
	defer close(done)
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
			// Keep reading (and dropping) until the peer answers our close:
			// closing with its data unread would reset the connection and
			// lose the error frame on the way.
			_ = sock.SetReadDeadline(time.Now().Add(closeGrace))
			_, _ = io.Copy(io.Discard, r)
			continue
		}
		if typ != websocket.TextMessage && typ != websocket.BinaryMessage {
			continue
		}
		root.Send(self, &frameReceived{data: data})
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
