package actors

import (
	"encoding/json"
	"runtime"
	"slices"
	"sync"
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
	push     func(*Frame) // direct to the outbox, when the connection offers it
	presence bool         // asked for room.joined / room.left
	joinedAt time.Time
}

// MemberInfo describes a room member (room.members).
type MemberInfo struct {
	ConnectionID string    `json:"connection_id"`
	Identity     string    `json:"identity"`
	ConnectedAt  time.Time `json:"connected_at"`
	// Node holds the connection (cluster mode only).
	Node string `json:"node,omitempty"`
}

// Frame is an encoded push frame shared by every member a room sends it to
// (a broadcast, a presence change). It is encoded once; a transport may
// also keep one form of its own per frame, built by whichever member's
// push comes first (transport/ws: a websocket.PreparedMessage, framed and
// compressed once for all the sockets instead of once per socket).
type Frame struct {
	Data []byte

	once     sync.Once
	prepared any
}

// NewFrame wraps an encoded frame.
func NewFrame(data []byte) *Frame { return &Frame{Data: data} }

// Prepared returns prepare(f.Data), calling prepare once per frame however
// many members' pushes ask (and from whichever goroutine asks first).
func (f *Frame) Prepared(prepare func([]byte) any) any {
	f.once.Do(func() { f.prepared = prepare(f.Data) })
	return f.prepared
}

// DefaultRoomPresenceLimit is the largest room that gets presence pushes
// when Config.RoomPresenceLimit is 0.
const DefaultRoomPresenceLimit = 1000

// BroadcastResult answers room.broadcast.
type BroadcastResult struct {
	Broadcast       bool `json:"broadcast"`
	DeliveredTo     int  `json:"delivered_to"`
	SubscriberCount int  `json:"subscriber_count"`
	Partial
}

// remoteUnknown in a join or leave: the room's members on other nodes were
// not counted for it; the room uses its last count (roomActor.remote).
const remoteUnknown = -1

// Messages of roomsSupervisor, which routes them to the room actors.
type (
	joinRoom struct {
		key   roomKey
		m     member
		reply chan<- int
		// presence is set by the room before it replies: whether the
		// member gets presence pushes (it asked for them and the room is
		// within the presence limit).
		presence *bool
		// remote: the room's members on other nodes (cluster mode), or
		// remoteUnknown.
		remote int
	}
	leaveRoom struct {
		key    roomKey
		connID string
		reply  chan<- int // may be nil
		remote int        // as in joinRoom
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
	// roomSize counts the room's members on this node.
	roomSize struct {
		key   roomKey
		reply chan<- int
	}
	// peerPresence is a join or leave on another node, for this node's
	// members who asked for presence.
	peerPresence struct {
		key    roomKey
		change PresenceChange
	}
)

// roomsSupervisor spawns a room actor on a room's first join and stops it
// when its last member leaves. Every join and leave passes through it, so it
// knows (as its own bookkeeping) which connections each room holds, and a
// room is never stopped while a join is on its way to it.
type roomsSupervisor struct {
	rooms         map[roomKey]*roomEntry
	presenceLimit int   // see roomActor.presenceLimit
	peers         Peers // the other nodes, for presence across them
}

type roomEntry struct {
	pid     *actor.PID
	members map[string]bool
}

// newRoomsSupervisor: presenceLimit as in Config.RoomPresenceLimit (0:
// the default, negative: no limit); peers nil for a single node.
func newRoomsSupervisor(presenceLimit int, peers Peers) *roomsSupervisor {
	if peers == nil {
		peers = noPeers{}
	}
	switch {
	case presenceLimit == 0:
		presenceLimit = DefaultRoomPresenceLimit
	case presenceLimit < 0:
		presenceLimit = 0
	}
	return &roomsSupervisor{rooms: map[roomKey]*roomEntry{}, presenceLimit: presenceLimit, peers: peers}
}

func (s *roomsSupervisor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *joinRoom:
		r := s.rooms[msg.key]
		if r == nil {
			key, limit, peers := msg.key, s.presenceLimit, s.peers
			pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return newRoomActor(key, limit, peers) }))
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
	case *roomSize:
		msg.reply <- len(s.rooms[msg.key].membersOrNil())
	case *peerPresence:
		if r := s.rooms[msg.key]; r != nil {
			ctx.Send(r.pid, msg)
		}
	}
}

func (r *roomEntry) membersOrNil() map[string]bool {
	if r == nil {
		return nil
	}
	return r.members
}

// roomActor owns one room's members.
//
// Presence at scale: announcing every join to every member costs N²/2
// pushes for a room of N (50 million frames for 10,000 members). So a room
// sends room.joined / room.left only while it is small: a join is
// announced when the room, the joiner counted, has at most presenceLimit
// members, a leave when it had at most presenceLimit with the leaver. In a
// larger room there are no presence pushes at all (room.members still
// lists the members), and room.join answers "presence":false, so a client
// knows it will not be told. The limit is Config.RoomPresenceLimit
// (weft serve --room-presence-limit, default 1000; 0 here: no limit).
//
// In a cluster the room's size is its members on every node: a join or
// leave through the service comes with the others' count (remote), and
// the room tells the other nodes' members (peers) when presence is on. A
// leave because a connection closed comes without a count, and the room
// goes by the last one it had (from a join or leave, or a presence change
// from another node).
type roomActor struct {
	key           roomKey
	members       map[string]*member
	list          []*member // members as a slice for fan-outs; nil: rebuild
	presenceLimit int       // 0: no limit
	peers         Peers
	remote        int // the room's members on other nodes, as last counted
}

// parallelFanOut is the smallest room whose broadcasts are split over
// GOMAXPROCS goroutines. A push is a short non-blocking write (or a queue
// append), so a small room is done faster by the actor alone.
const parallelFanOut = 256

// memberList returns the members as a slice, rebuilt only after a change.
func (r *roomActor) memberList() []*member {
	if r.list == nil {
		r.list = make([]*member, 0, len(r.members))
		for _, m := range r.members {
			r.list = append(r.list, m)
		}
	}
	return r.list
}

// fanOut sends f to every member but the one with connection id except,
// and returns how many it went to. Pushes never block (a member that
// cannot take a frame is queued or closed, never waited for); in a large
// room they are split into contiguous shares written in parallel, and the
// fan-out returns once every share is done, so the next frame of this
// room reaches each member after this one.
func (r *roomActor) fanOut(ctx actor.Context, f *Frame, except string) int {
	list := r.memberList()
	n := len(list)
	if _, ok := r.members[except]; ok {
		n--
	}
	workers := runtime.GOMAXPROCS(0)
	if len(list) < parallelFanOut || workers < 2 {
		var deliver *Deliver
		for _, m := range list {
			if m.connID != except {
				m.send(ctx, f, &deliver)
			}
		}
		return n
	}
	// Members without a push (none, over sockets) take an actor message,
	// which only this actor's context sends.
	var deliver *Deliver
	for _, m := range list {
		if m.push == nil && m.connID != except {
			m.send(ctx, f, &deliver)
		}
	}
	share := (len(list) + workers - 1) / workers
	var wg sync.WaitGroup
	for start := share; start < len(list); start += share {
		wg.Add(1)
		go func(part []*member) {
			defer wg.Done()
			pushAll(part, f, except)
		}(list[start:min(start+share, len(list))])
	}
	pushAll(list[:share], f, except)
	wg.Wait()
	return n
}

// pushAll pushes f to the members of part that take pushes.
func pushAll(part []*member, f *Frame, except string) {
	for _, m := range part {
		if m.push != nil && m.connID != except {
			m.push(f)
		}
	}
}

func newRoomActor(key roomKey, presenceLimit int, peers Peers) *roomActor {
	return &roomActor{key: key, members: map[string]*member{}, presenceLimit: presenceLimit, peers: peers}
}

// presenceOn says whether a room of n members sends presence pushes.
func (r *roomActor) presenceOn(n int) bool {
	return r.presenceLimit <= 0 || n <= r.presenceLimit
}

// size is the room's members on every node.
func (r *roomActor) size() int { return len(r.members) + r.remote }

// noteRemote records a fresh count of the room's members on other nodes.
func (r *roomActor) noteRemote(n int) {
	if n != remoteUnknown {
		r.remote = n
	}
}

func (r *roomActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *joinRoom:
		r.noteRemote(msg.remote)
		m := msg.m
		if old, ok := r.members[m.connID]; ok {
			old.presence = m.presence // joining again only updates presence
		} else {
			r.members[m.connID] = &m
			r.list = nil
			if r.presenceOn(r.size()) {
				r.presence(ctx, "room.joined", &m)
				r.peers.Presence(r.change(true, &m))
			}
		}
		if msg.presence != nil {
			*msg.presence = m.presence && r.presenceOn(r.size())
		}
		msg.reply <- len(r.members)
	case *leaveRoom:
		r.noteRemote(msg.remote)
		if m, ok := r.members[msg.connID]; ok {
			on := r.presenceOn(r.size())
			delete(r.members, msg.connID)
			r.list = nil
			if on {
				r.presence(ctx, "room.left", m)
				r.peers.Presence(r.change(false, m))
			}
		}
		if msg.reply != nil {
			msg.reply <- len(r.members)
		}
	case *broadcastRoom:
		// One encoding for every member (and, through Frame.Prepared,
		// one socket framing and compression).
		frame := NewFrame(pushFrame("room.message", map[string]any{
			"room": r.key.name, "from": msg.from, "identity": msg.identity, "message": msg.message,
		}))
		n := r.fanOut(ctx, frame, msg.from)
		msg.reply <- BroadcastResult{Broadcast: true, DeliveredTo: n, SubscriberCount: len(r.members)}
	case *roomMembers:
		out := make([]MemberInfo, 0, len(r.members))
		for _, m := range r.members {
			out = append(out, MemberInfo{ConnectionID: m.connID, Identity: m.identity, ConnectedAt: m.joinedAt})
		}
		slices.SortFunc(out, func(a, b MemberInfo) int { return a.ConnectedAt.Compare(b.ConnectedAt) })
		msg.reply <- out
	case *peerPresence:
		// The node where it happened judged the limit by the whole
		// room's size; its count also refreshes ours.
		c := msg.change
		r.remote = max(0, c.Total-len(r.members))
		typ := "room.left"
		if c.Joined {
			typ = "room.joined"
		}
		r.presence(ctx, typ, &member{connID: c.ConnectionID, identity: c.Identity})
	}
}

// change describes m's join or leave for the other nodes.
func (r *roomActor) change(joined bool, m *member) PresenceChange {
	return PresenceChange{Workspace: r.key.workspace, Room: r.key.name, Joined: joined,
		ConnectionID: m.connID, Identity: m.identity, Total: r.size()}
}

// presence tells the other members that asked for presence that m joined
// or left. The frame is encoded once for all of them.
func (r *roomActor) presence(ctx actor.Context, typ string, m *member) {
	var frame *Frame
	var deliver *Deliver
	for id, other := range r.members {
		if id == m.connID || !other.presence {
			continue
		}
		if frame == nil {
			frame = NewFrame(pushFrame(typ, map[string]string{
				"room": r.key.name, "connection_id": m.connID, "identity": m.identity,
			}))
		}
		other.send(ctx, frame, &deliver)
	}
}

// send hands a shared frame to the member's connection: straight onto its
// outbox when it offers a push, else as a Deliver message (made once per
// frame, in *deliver) to its actor.
func (m *member) send(ctx actor.Context, f *Frame, deliver **Deliver) {
	if m.push != nil {
		m.push(f)
		return
	}
	if *deliver == nil {
		*deliver = &Deliver{Frame: f.Data}
	}
	ctx.Send(m.pid, *deliver)
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
