package client

import (
	"encoding/json"
)

// ---- frames ----

type inFrame struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Response json.RawMessage `json:"response"`
	Data     json.RawMessage `json:"data"`
	Error    *Error          `json:"error"`
	Complete bool            `json:"complete"`
}

// route hands a frame to its request, or a push to its callbacks.
func (c *Client) route(cn *conn, f *inFrame) {
	if f.ID == "" {
		if f.Error != nil {
			c.log.Warn("weft client: error frame without id", "err", f.Error)
			return
		}
		c.push(f)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != cn {
		return
	}
	o, ok := c.ops[f.ID]
	if !ok {
		return // a request its caller stopped waiting for
	}
	if o.exec != nil {
		if o.exec.onFrame(f) {
			delete(c.ops, f.ID)
		}
		return
	}
	if f.Error == nil && o.onFrame != nil {
		o.onFrame(f)
	}
	if f.Error == nil && !f.Complete {
		return // a stream goes on; a plain call's non-final response is not expected
	}
	delete(c.ops, f.ID)
	if f.Error != nil {
		o.finish(nil, f.Error)
	} else {
		o.finish(f.Response, nil)
	}
}

// Message is a pushed message: Type "message" (connection.send, From =
// the sender connection id) or "room.message" (Room set; From = sender
// connection id or "workflow:<execution id>").
type Message struct {
	Type     string
	Room     string
	From     string
	Identity string
	Body     json.RawMessage
}

// PresenceEvent is a room.joined / room.left push.
type PresenceEvent struct {
	Room         string `json:"room"`
	ConnectionID string `json:"connection_id"`
	Identity     string `json:"identity"`
}

func (c *Client) push(f *inFrame) {
	switch f.Type {
	case "message", "room.message":
		var d struct {
			Room     string          `json:"room"`
			From     string          `json:"from"`
			Identity string          `json:"identity"`
			Message  json.RawMessage `json:"message"`
		}
		if json.Unmarshal(f.Data, &d) != nil {
			return
		}
		m := Message{Type: f.Type, Room: d.Room, From: d.From, Identity: d.Identity, Body: d.Message}
		c.mu.Lock()
		var fs []func(Message)
		if r := c.rooms[d.Room]; r != nil && f.Type == "room.message" && r.onMessage != nil {
			fs = append(fs, r.onMessage)
		}
		for _, h := range c.handlers {
			fs = append(fs, h)
		}
		c.mu.Unlock()
		for _, h := range fs {
			c.disp.push(func() { h(m) })
		}
	case "room.joined", "room.left":
		var p PresenceEvent
		if json.Unmarshal(f.Data, &p) != nil {
			return
		}
		c.mu.Lock()
		r := c.rooms[p.Room]
		var h func(PresenceEvent)
		if r != nil {
			h = r.presence.OnJoined
			if f.Type == "room.left" {
				h = r.presence.OnLeft
			}
		}
		c.mu.Unlock()
		if h != nil {
			c.disp.push(func() { h(p) })
		}
	}
}
