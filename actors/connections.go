package actors

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Messages a connection actor (transport/ws) must handle: the actors that
// own rooms and the connection registry talk to sockets only through them.
type (
	// Deliver asks a connection to send a frame already encoded (a
	// broadcast is encoded once for all its members).
	Deliver struct{ Frame []byte }
	// Disconnect asks a connection to close with a code.
	Disconnect struct {
		Code   int
		Reason string
	}
)

// ConnectionInfo describes one authenticated connection.
type ConnectionInfo struct {
	ID          string    `json:"connection_id"`
	Identity    string    `json:"identity"`
	Workspace   string    `json:"-"`
	ConnectedAt time.Time `json:"connected_at"`
	Rooms       []string  `json:"rooms"`
	// Node holds the connection (cluster mode only).
	Node string `json:"node,omitempty"`
}

// Messages of connectionsSupervisor: its registry of authenticated
// connections, by id.
type (
	registerConnection struct {
		info ConnectionInfo
		pid  *actor.PID
	}
	// unregisterConnection removes a connection and has it leave its
	// rooms (through the rooms supervisor).
	unregisterConnection struct {
		id    string
		rooms *actor.PID
	}
	// viaConnection passes a room join or leave through the registry, which
	// records it and forwards it to the rooms supervisor. Because a
	// connection's unregistering passes the same way, its leaves always
	// follow its joins: no member outlives its socket.
	viaConnection struct {
		id    string
		op    any // *joinRoom or *leaveRoom
		rooms *actor.PID
	}
	listConnections struct {
		workspace string
		reply     chan<- []ConnectionInfo
	}
	// toConnection forwards msg to a connection of the workspace; found
	// says whether it exists.
	toConnection struct {
		workspace, id string
		msg           any
		found         chan<- bool
	}
	// toWorkspace forwards a frame to every connection of a workspace but
	// one; reply gets how many.
	toWorkspace struct {
		workspace, except string
		frame             []byte
		reply             chan<- int
	}
)

type registeredConnection struct {
	info ConnectionInfo
	pid  *actor.PID
}

// connectionsSupervisor is the parent of every connection actor and the
// registry of the authenticated ones (connections.list, connection.send,
// workspace broadcasts).
type connectionsSupervisor struct {
	conns    map[string]*registeredConnection
	maxRooms int // rooms one connection may be in; <= 0: no limit
}

func newConnectionsSupervisor(maxRooms int) *connectionsSupervisor {
	return &connectionsSupervisor{conns: map[string]*registeredConnection{}, maxRooms: maxRooms}
}

// Answers of a join routed through the registry, besides the member count.
const (
	joinConnectionGone = -1
	joinTooManyRooms   = -2
)

func (s *connectionsSupervisor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *spawnConnection:
		pid, err := ctx.SpawnNamed(msg.props, msg.name)
		ctx.Respond(&spawnConnectionResult{pid: pid, err: err})
	case *registerConnection:
		s.conns[msg.info.ID] = &registeredConnection{info: msg.info, pid: msg.pid}
	case *unregisterConnection:
		c, ok := s.conns[msg.id]
		if !ok {
			return
		}
		delete(s.conns, msg.id)
		for _, room := range c.info.Rooms {
			ctx.Send(msg.rooms, &leaveRoom{key: roomKey{c.info.Workspace, room}, connID: msg.id, remote: remoteUnknown})
		}
	case *viaConnection:
		c, ok := s.conns[msg.id]
		switch op := msg.op.(type) {
		case *joinRoom:
			if !ok {
				op.reply <- joinConnectionGone
				return
			}
			if !slices.Contains(c.info.Rooms, op.key.name) {
				if s.maxRooms > 0 && len(c.info.Rooms) >= s.maxRooms {
					op.reply <- joinTooManyRooms
					return
				}
				c.info.Rooms = append(c.info.Rooms, op.key.name)
			}
		case *leaveRoom:
			if ok {
				c.info.Rooms = slices.DeleteFunc(c.info.Rooms, func(r string) bool { return r == op.key.name })
			}
		}
		ctx.Send(msg.rooms, msg.op)
	case *listConnections:
		out := []ConnectionInfo{}
		for _, c := range s.conns {
			if c.info.Workspace == msg.workspace {
				info := c.info
				info.Rooms = append([]string{}, c.info.Rooms...)
				out = append(out, info)
			}
		}
		slices.SortFunc(out, func(a, b ConnectionInfo) int { return a.ConnectedAt.Compare(b.ConnectedAt) })
		msg.reply <- out
	case *toConnection:
		c, ok := s.conns[msg.id]
		ok = ok && c.info.Workspace == msg.workspace
		if ok {
			ctx.Send(c.pid, msg.msg)
		}
		msg.found <- ok
	case *toWorkspace:
		n := 0
		deliver := &Deliver{Frame: msg.frame}
		for id, c := range s.conns {
			if c.info.Workspace == msg.workspace && id != msg.except {
				ctx.Send(c.pid, deliver)
				n++
			}
		}
		msg.reply <- n
	}
}
