package actors

import (
	"context"
	"encoding/json"
)

// Peers carries room and connection traffic to the other nodes of a
// cluster (PROTOCOL.md section 11): a broadcast reaches the members of a
// room on every node, counts and lists cover every node, and a
// connection.send or connection.close reaches a connection wherever it is.
// A single node has no peers (noPeers, the default), and then nothing
// changes: the rooms and the registry answer alone, as before.
//
// Peers only reach the other nodes; this node's part of each operation is
// done by the caller. A peer that does not answer in time is not an
// error: the answer counts the others and names it (PeerTally.Missing).
// Implementations must be safe for concurrent use; Presence must never
// block (room actors call it from Receive).
type Peers interface {
	// Node is this node's id ("" for a single node); lists name it as
	// the node that holds a connection.
	Node() string
	// Broadcast starts handing m to the other nodes, which push it to
	// their members of m.Room (m.Room "": to every connection of the
	// workspace). Wait on the call for what they delivered; every call
	// must be waited on.
	Broadcast(m RoomMessage) PeerCall
	// Presence tells the other nodes' members of a room who asked for
	// presence that a connection joined or left. No answer.
	Presence(p PresenceChange)
	// RoomSize counts a room's members on the other nodes (Members).
	RoomSize(ctx context.Context, workspace, room string) PeerTally
	// Members lists a room's members on the other nodes.
	Members(ctx context.Context, workspace, room string) ([]MemberInfo, PeerTally)
	// Connections lists a workspace's connections on the other nodes.
	Connections(ctx context.Context, workspace string) ([]ConnectionInfo, PeerTally)
	// ToConnection hands m to connection id of the workspace on whichever
	// other node has it; found says one did.
	ToConnection(ctx context.Context, workspace, id string, m ConnectionMessage) (found bool, _ PeerTally)
}

// PeerCall is a request to the other nodes under way.
type PeerCall interface {
	// Wait returns what the nodes answered, by ctx's end or the peers'
	// timeout at the latest (then the late ones are Missing).
	Wait(ctx context.Context) PeerTally
}

// PeerTally sums what the other nodes answered to one request.
type PeerTally struct {
	// Delivered: pushes made (Broadcast). Members: room members
	// (Broadcast, RoomSize).
	Delivered, Members int
	// Missing names the nodes that did not answer in time; the numbers
	// count only the others.
	Missing []string
}

// partial turns the nodes that did not answer into an answer's Partial.
func (t PeerTally) partial() Partial {
	if len(t.Missing) == 0 {
		return Partial{}
	}
	return Partial{Partial: true, MissingNodes: t.Missing}
}

// Partial marks a cluster-wide answer that counts only the nodes that
// answered in time (cluster mode; never set on a single node).
type Partial struct {
	Partial      bool     `json:"partial,omitempty"`
	MissingNodes []string `json:"missing_nodes,omitempty"`
}

// RoomMessage is a room.message to push to a room's members (Room "": to
// every connection of the workspace) but the sender's connection From.
type RoomMessage struct {
	Workspace, Room string
	From, Identity  string
	Message         json.RawMessage
}

// PresenceChange is a room.joined or room.left of a connection on another
// node. The node where it happened decided, by the room's size across the
// cluster (Total, counted after the change), that presence is on.
type PresenceChange struct {
	Workspace, Room string
	Joined          bool // room.joined; false: room.left
	ConnectionID    string
	Identity        string
	Total           int
}

// ConnectionMessage is what connection.send (a message push from From)
// or connection.close (Close, with Reason) hands to a connection.
type ConnectionMessage struct {
	Close   bool
	From    string
	Message json.RawMessage
	Reason  string
}

// local is the message for the connection's actor.
func (m ConnectionMessage) local() any {
	if m.Close {
		return &Disconnect{Code: 4000, Reason: m.Reason}
	}
	return &Deliver{Frame: pushFrame("message", map[string]any{"from": m.From, "message": m.Message})}
}

// noPeers is a single node's Peers: nobody else to reach.
type noPeers struct{}

func (noPeers) Node() string                                       { return "" }
func (noPeers) Broadcast(RoomMessage) PeerCall                     { return noCall{} }
func (noPeers) Presence(PresenceChange)                            {}
func (noPeers) RoomSize(context.Context, string, string) PeerTally { return PeerTally{} }
func (noPeers) Members(context.Context, string, string) ([]MemberInfo, PeerTally) {
	return nil, PeerTally{}
}
func (noPeers) Connections(context.Context, string) ([]ConnectionInfo, PeerTally) {
	return nil, PeerTally{}
}
func (noPeers) ToConnection(context.Context, string, string, ConnectionMessage) (bool, PeerTally) {
	return false, PeerTally{}
}

type noCall struct{}

func (noCall) Wait(context.Context) PeerTally { return PeerTally{} }

var _ Peers = noPeers{}

// This node's side of the peers' traffic: what a Peers implementation
// calls when another node asks. None of these reaches other nodes.

// LocalBroadcast pushes m to this node's members of m.Room (m.Room "": to
// every connection of the workspace) and returns how many it went to and
// how many members the room has here.
func (s *Service) LocalBroadcast(ctx context.Context, m RoomMessage) (delivered, members int, err error) {
	if m.Room == "" {
		reply := make(chan int, 1)
		frame := pushFrame("room.message", map[string]any{"room": "", "from": m.From, "identity": m.Identity, "message": m.Message})
		n, err := ask(ctx, s, s.sys.connections, &toWorkspace{workspace: m.Workspace, except: m.From, frame: frame, reply: reply}, reply)
		return n, n, err
	}
	reply := make(chan BroadcastResult, 1)
	r, err := ask(ctx, s, s.sys.rooms, &broadcastRoom{key: roomKey{m.Workspace, m.Room}, from: m.From, identity: m.Identity, message: m.Message, reply: reply}, reply)
	return r.DeliveredTo, r.SubscriberCount, err
}

// LocalPresence pushes p to this node's members of its room that asked
// for presence. It never blocks.
func (s *Service) LocalPresence(p PresenceChange) {
	s.sys.actors.Root.Send(s.sys.rooms, &peerPresence{key: roomKey{p.Workspace, p.Room}, change: p})
}

// LocalRoomSize counts this node's members of a room.
func (s *Service) LocalRoomSize(ctx context.Context, workspace, room string) (int, error) {
	reply := make(chan int, 1)
	return ask(ctx, s, s.sys.rooms, &roomSize{key: roomKey{workspace, room}, reply: reply}, reply)
}

// LocalMembers lists this node's members of a room.
func (s *Service) LocalMembers(ctx context.Context, workspace, room string) ([]MemberInfo, error) {
	reply := make(chan []MemberInfo, 1)
	return ask(ctx, s, s.sys.rooms, &roomMembers{key: roomKey{workspace, room}, reply: reply}, reply)
}

// LocalConnections lists this node's connections of a workspace.
func (s *Service) LocalConnections(ctx context.Context, workspace string) ([]ConnectionInfo, error) {
	reply := make(chan []ConnectionInfo, 1)
	return ask(ctx, s, s.sys.connections, &listConnections{workspace: workspace, reply: reply}, reply)
}

// LocalToConnection hands m to connection id of the workspace if it is on
// this node.
func (s *Service) LocalToConnection(ctx context.Context, workspace, id string, m ConnectionMessage) (bool, error) {
	found := make(chan bool, 1)
	return ask(ctx, s, s.sys.connections, &toConnection{workspace: workspace, id: id, msg: m.local(), found: found}, found)
}
