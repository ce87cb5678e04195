package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// The operator commands speak the public socket protocol (PROTOCOL.md
// sections 3 and 4) with gorilla/websocket directly: one request at a time
// on one connection is all a command needs, and the Go client SDK in
// client/ was not committed when these commands were written.

// sockFrame is any frame the server sends.
type sockFrame struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Response json.RawMessage `json:"response"`
	Data     json.RawMessage `json:"data"`
	Error    *remoteError    `json:"error"`
	Complete bool            `json:"complete"`
}

// remoteError is an error frame's error: the operation failed (exit 1).
type remoteError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

func (e *remoteError) Error() string { return e.Code + ": " + e.Message }

// connectedInfo is the data of the connected frame.
type connectedInfo struct {
	ConnectionID string   `json:"connection_id"`
	Identity     string   `json:"identity"`
	Workspace    string   `json:"workspace"`
	Scopes       []string `json:"scopes"`
}

// sock is one authenticated connection used by one command.
type sock struct {
	conn *websocket.Conn
	info connectedInfo
	next int
	stop func() bool
}

// dialSocket connects and authenticates with the token as a bearer header.
// The connection is closed when ctx ends, which unblocks any read.
func dialSocket(ctx context.Context, server, token string) (*sock, error) {
	if token == "" {
		return nil, errNoToken
	}
	addr, err := serverAddress(server)
	if err != nil {
		return nil, err
	}
	u := addr.Socket()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	h.Set("User-Agent", userAgent())
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			var body struct {
				Error *remoteError `json:"error"`
			}
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			if json.Unmarshal(raw, &body) == nil && body.Error != nil {
				return nil, fmt.Errorf("connect to %s: %w", u, body.Error)
			}
			return nil, fmt.Errorf("connect to %s: HTTP %s", u, resp.Status)
		}
		return nil, explainDial(addr.String(), fmt.Errorf("connect to %s: %w", u, err))
	}
	conn.SetReadLimit(16 << 20)
	s := &sock{conn: conn, stop: context.AfterFunc(ctx, func() { conn.Close() })}
	for {
		f, err := s.read()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("connect to %s: %w", u, err)
		}
		switch f.Type {
		case "connected":
			if err := json.Unmarshal(f.Data, &s.info); err != nil {
				s.Close()
				return nil, fmt.Errorf("connected frame: %w", err)
			}
			return s, nil
		case "auth_error":
			s.Close()
			return nil, f.Error
		}
	}
}

// Close ends the connection with a normal close.
func (s *sock) Close() {
	s.stop()
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = s.conn.Close()
}

func (s *sock) read() (sockFrame, error) {
	var f sockFrame
	_, data, err := s.conn.ReadMessage()
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("undecodable frame: %w", err)
	}
	return f, nil
}

// send writes a request frame and returns its id.
func (s *sock) send(service string, req any) (string, error) {
	s.next++
	id := "cli-" + strconv.Itoa(s.next)
	frame := map[string]any{"id": id, "service": service, "request": req}
	_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := s.conn.WriteJSON(frame); err != nil {
		return "", fmt.Errorf("send %s: %w", service, err)
	}
	return id, nil
}

// call sends one request and decodes its final response into out.
func (s *sock) call(service string, req, out any) error {
	return s.stream(service, req, func(f sockFrame) error {
		if f.Response != nil && out != nil {
			return json.Unmarshal(f.Response, out)
		}
		return nil
	})
}

// stream sends one request and hands every frame of it (responses and
// events) to fn until the frame with complete:true; an error frame ends it
// with that error. Pushes and pongs are skipped.
func (s *sock) stream(service string, req any, fn func(sockFrame) error) error {
	id, err := s.send(service, req)
	if err != nil {
		return err
	}
	for {
		f, err := s.read()
		if err != nil {
			return fmt.Errorf("%s: %w", service, err)
		}
		if f.ID != id {
			continue
		}
		if f.Error != nil {
			return f.Error
		}
		if err := fn(f); err != nil {
			return err
		}
		if f.Complete {
			return nil
		}
	}
}
