package client

import (
	"context"
	"encoding/json"
	"time"
)

// Presence holds the callbacks for other members joining and leaving a
// room. They run on the client's dispatcher goroutine, in order.
type Presence struct {
	OnJoined func(PresenceEvent)
	OnLeft   func(PresenceEvent)
}

// JoinOption configures Join.
type JoinOption func(*Room)

// WithPresence sets presence callbacks (the join asks for presence pushes,
// the protocol's default).
func WithPresence(p Presence) JoinOption {
	return func(r *Room) { r.presence = p; r.wantPresence = true }
}

// WithoutPresence joins with presence:false: no room.joined/room.left
// pushes (for large rooms).
func WithoutPresence() JoinOption { return func(r *Room) { r.wantPresence = false } }

// WithRoomMessages sets a callback for room.message pushes of this room.
func WithRoomMessages(f func(Message)) JoinOption { return func(r *Room) { r.onMessage = f } }

// Room is a joined room. The client joins it again after every reconnect
// (with its new connection id) until Leave.
type Room struct {
	c            *Client
	name         string
	wantPresence bool
	presence     Presence
	onMessage    func(Message)
}

// Name is the room's name.
func (r *Room) Name() string { return r.name }

func (r *Room) joinOp() *op {
	return &op{service: "room.join", idempotent: true,
		request: mustRaw(map[string]any{"room": r.name, "presence": r.wantPresence}),
		onDone: func(_ json.RawMessage, err error) {
			if err != nil {
				r.c.log.Warn("weft client: re-join failed", "room", r.name, "err", err)
			}
		}}
}

// Join joins room; members is the count after joining.
func (c *Client) Join(ctx context.Context, room string, opts ...JoinOption) (r *Room, members int, err error) {
	r = &Room{c: c, name: room, wantPresence: true}
	for _, o := range opts {
		o(r)
	}
	c.mu.Lock()
	prev := c.rooms[room]
	c.rooms[room] = r // before the answer: no presence push is missed
	c.mu.Unlock()
	var resp struct {
		Members int `json:"members"`
	}
	if err := c.call(ctx, "room.join", map[string]any{"room": room, "presence": r.wantPresence}, &resp); err != nil {
		c.mu.Lock()
		if c.rooms[room] == r {
			if prev != nil {
				c.rooms[room] = prev
			} else {
				delete(c.rooms, room)
			}
		}
		c.mu.Unlock()
		return nil, 0, err
	}
	return r, resp.Members, nil
}

// Leave leaves the room; members is the count after leaving.
func (r *Room) Leave(ctx context.Context) (members int, err error) {
	c := r.c
	c.mu.Lock()
	if c.rooms[r.name] == r {
		delete(c.rooms, r.name)
	}
	c.mu.Unlock()
	var resp struct {
		Members int `json:"members"`
	}
	err = c.call(ctx, "room.leave", map[string]string{"room": r.name}, &resp)
	return resp.Members, err
}

// Broadcast sends message to the other members of the room.
func (r *Room) Broadcast(ctx context.Context, message any) (BroadcastResult, error) {
	return r.c.Broadcast(ctx, r.name, message)
}

// Members lists the room's members.
func (r *Room) Members(ctx context.Context) ([]Member, error) { return r.c.Members(ctx, r.name) }

// BroadcastResult answers room.broadcast.
type BroadcastResult struct {
	Broadcast       bool `json:"broadcast"`
	DeliveredTo     int  `json:"delivered_to"`
	SubscriberCount int  `json:"subscriber_count"`
}

// Broadcast sends message to every member of room but this connection
// (room "" = every connection of the workspace). It is not queued for
// absent members.
func (c *Client) Broadcast(ctx context.Context, room string, message any) (BroadcastResult, error) {
	raw, err := encodeBody(message)
	if err != nil {
		return BroadcastResult{}, err
	}
	req := map[string]any{"message": raw}
	if room != "" {
		req["room"] = room
	}
	var r BroadcastResult
	err = c.call(ctx, "room.broadcast", req, &r)
	return r, err
}

// Member is a room member.
type Member struct {
	ConnectionID string    `json:"connection_id"`
	Identity     string    `json:"identity"`
	ConnectedAt  time.Time `json:"connected_at"`
}

// Members lists a room's members.
func (c *Client) Members(ctx context.Context, room string) ([]Member, error) {
	var r struct {
		Members []Member `json:"members"`
	}
	err := c.call(ctx, "room.members", map[string]string{"room": room}, &r)
	return r.Members, err
}
