package actors

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// roomKey names a room: rooms of different workspaces never meet.
type roomKey struct{ workspace, name string }

// member is one connection in a room.
type member struct {
	connID   string
	identity string
	pid      *actor.PID
	push     func([]byte) // direct to the outbox, when the connection offers it
	presence bool         // receives room.joined / room.left
	joinedAt time.Time
}

// MemberInfo describes a room member (room.members).
type MemberInfo struct {
	ConnectionID string    `json:"connection_id"`
	Identity     string    `json:"identity"`
	ConnectedAt  time.Time `json:"connected_at"`
}

// BroadcastResult answers room.broadcast.
type BroadcastResult struct {
	Broadcast       bool `json:"broadcast"`
	DeliveredTo     int  `json:"delivered_to"`
	SubscriberCount int  `json:"subscriber_count"`
}

// Messages of roomsSupervisor, which routes them to the room actors.
type (
	joinRoom struct {
		key   roomKey
		m     member
		reply chan<- int
	}
	leaveRoom struct {
		key    roomKey
		connID string
		reply  chan<- int // may be nil
	}
	broadcastRoom struct {
		key            roomKey
		from, identity string
		message        json.RawMessage
		reply          chan<- BroadcastResult
	}
	roomMembers struct {
		key   roomKey
		reply chan<- []MemberInfo
	}
)

// roomsSupervisor spawns a room actor on a room's first join and stops it
// when its last member leaves. Every join and leave passes through it, so it
// knows (as its own bookkeeping) which connections each room holds, and a
// room is never stopped while a join is on its way to it.
type roomsSupervisor struct {
	rooms map[roomKey]*roomEntry
}

type roomEntry struct {
	pid     *actor.PID
	members map[string]bool
}

func newRoomsSupervisor() *roomsSupervisor {
	return &roomsSupervisor{rooms: map[roomKey]*roomEntry{}}
}

func (s *roomsSupervisor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *joinRoom:
		r := s.rooms[msg.key]
		if r == nil {
			key := msg.key
			pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return newRoomActor(key) }))
			r = &roomEntry{pid: pid, members: map[string]bool{}}
			s.rooms[msg.key] = r
		}
		r.members[msg.m.connID] = true
		ctx.Send(r.pid, msg)
	case *leaveRoom:
		r := s.rooms[msg.key]
		if r == nil || !r.members[msg.connID] {
			if msg.reply != nil {
				msg.reply <- len(r.membersOrNil())
			}
			return
		}
		delete(r.members, msg.connID)
		ctx.Send(r.pid, msg)
		if len(r.members) == 0 {
			// The room processes the leave (telling nobody: it is empty)
			// and stops; a later join spawns a new one.
			ctx.Poison(r.pid)
			delete(s.rooms, msg.key)
		}
	case *broadcastRoom:
		if r := s.rooms[msg.key]; r != nil {
			ctx.Send(r.pid, msg)
			return
		}
		msg.reply <- BroadcastResult{Broadcast: true}
	case *roomMembers:
		if r := s.rooms[msg.key]; r != nil {
			ctx.Send(r.pid, msg)
			return
		}
		msg.reply <- []MemberInfo{}
	}
}

func (r *roomEntry) membersOrNil() map[string]bool {
	if r == nil {
		return nil
	}
	return r.members
}

// roomActor owns one room's members.
type roomActor struct {
	key     roomKey
	members map[string]*member
}

func newRoomActor(key roomKey) *roomActor {
	return &roomActor{key: key, members: map[string]*member{}}
}

func (r *roomActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *joinRoom:
		m := msg.m
		if old, ok := r.members[m.connID]; ok {
			old.presence = m.presence // joining again only updates presence
		} else {
			r.members[m.connID] = &m
			r.presence(ctx, "room.joined", &m)
		}
		msg.reply <- len(r.members)
	case *leaveRoom:
		if m, ok := r.members[msg.connID]; ok {
			delete(r.members, msg.connID)
			r.presence(ctx, "room.left", m)
		}
		if msg.reply != nil {
			msg.reply <- len(r.members)
		}
	case *broadcastRoom:
		frame := pushFrame("room.message", map[string]any{
			"room": r.key.name, "from": msg.from, "identity": msg.identity, "message": msg.message,
		})
		deliver, n := &Deliver{Frame: frame}, 0
		for id, m := range r.members {
			if id != msg.from {
				m.send(ctx, deliver)
				n++
			}
		}
		msg.reply <- BroadcastResult{Broadcast: true, DeliveredTo: n, SubscriberCount: len(r.members)}
	case *roomMembers:
		out := make([]MemberInfo, 0, len(r.members))
		for _, m := range r.members {
			out = append(out, MemberInfo{ConnectionID: m.connID, Identity: m.identity, ConnectedAt: m.joinedAt})
		}
		slices.SortFunc(out, func(a, b MemberInfo) int { return a.ConnectedAt.Compare(b.ConnectedAt) })
		msg.reply <- out
	}
}

// presence tells the other members that asked for presence that m joined
// or left. The frame is encoded once for all of them.
func (r *roomActor) presence(ctx actor.Context, typ string, m *member) {
	var deliver *Deliver
	for id, other := range r.members {
		if id == m.connID || !other.presence {
			continue
		}
		if deliver == nil {
			deliver = &Deliver{Frame: pushFrame(typ, map[string]string{
				"room": r.key.name, "connection_id": m.connID, "identity": m.identity,
			})}
		}
		other.send(ctx, deliver)
	}
}

// send hands an encoded frame to the member's connection.
func (m *member) send(ctx actor.Context, d *Deliver) {
	if m.push != nil {
		m.push(d.Frame)
		return
	}
	ctx.Send(m.pid, d)
}

// pushFrame encodes a push frame (no request id).
func pushFrame(typ string, data any) []byte {
	raw, err := json.Marshal(struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}{typ, data})
	if err != nil {
		panic("actors: encode push frame: " + err.Error())
	}
	return raw
}
