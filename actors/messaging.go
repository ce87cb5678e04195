package actors

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/workflows"
)

// ConnRef is what the service needs to know of a connection to put it in
// rooms and reach it.
type ConnRef struct {
	ID          string
	Identity    weft.Identity
	PID         *actor.PID
	ConnectedAt time.Time
	// Push queues a shared frame on the connection's outbox directly,
	// without a message per frame to its actor: a broadcast to ten
	// thousand members is ten thousand queue appends, not ten thousand
	// actor dispatches, and the frame is encoded once (see Frame). It
	// must be safe for concurrent use and never block. Nil: frames go to
	// the actor as Deliver messages.
	Push func(frame *Frame)
}

const maxRoomName = 128

// ask sends msg (which carries reply) to pid and waits for the answer.
func ask[T any](ctx context.Context, s *Service, pid *actor.PID, msg any, reply <-chan T) (T, error) {
	s.sys.actors.Root.Send(pid, msg)
	select {
	case v := <-reply:
		return v, nil
	case <-ctx.Done():
		var zero T
		return zero, weft.Errorf(weft.CodeUnavailable, "no answer: %v", ctx.Err())
	case <-time.After(routeTimeout):
		var zero T
		return zero, weft.Errorf(weft.CodeUnavailable, "no answer within %s", routeTimeout)
	}
}

// ConnectionOpened registers an authenticated connection, announces it on
// the bus and starts the workflows bound to connection openings.
//
// It never blocks: connection actors call it from Receive.
func (s *Service) ConnectionOpened(c ConnRef) {
	info := ConnectionInfo{ID: c.ID, Identity: c.Identity.Name, Workspace: c.Identity.Workspace, ConnectedAt: c.ConnectedAt, Rooms: []string{}}
	s.sys.actors.Root.Send(s.sys.connections, &registerConnection{info: info, pid: c.PID})
	s.lifecycle(events.TopicConnectionOpened, func() any {
		return map[string]any{"connection_id": c.ID, "identity": c.Identity.Name, "workspace": c.Identity.Workspace}
	})
	s.trigger(c.Identity, c.ID, "connection.opened", func(t workflows.Triggers) bool { return t.ConnectionOpened },
		map[string]any{"connection_id": c.ID, "identity": c.Identity.Name, "event": "opened"})
}

// ConnectionClosed removes a connection from the registry and from every
// room it joined, at once (their members see room.left), announces it and
// starts the workflows bound to connection closings. It never blocks.
func (s *Service) ConnectionClosed(c ConnRef, code int) {
	s.sys.actors.Root.Send(s.sys.connections, &unregisterConnection{id: c.ID, rooms: s.sys.rooms})
	s.lifecycle(events.TopicConnectionClosed, func() any {
		return map[string]any{"connection_id": c.ID, "identity": c.Identity.Name, "workspace": c.Identity.Workspace, "code": code}
	})
	s.trigger(c.Identity, c.ID, "connection.closed", func(t workflows.Triggers) bool { return t.ConnectionClosed },
		map[string]any{"connection_id": c.ID, "identity": c.Identity.Name, "event": "closed", "code": code})
}

// RoomCount answers room.join and room.leave.
type RoomCount struct {
	Room    string `json:"room"`
	Members int    `json:"members"`
	// Presence (room.join only) says whether the connection gets
	// room.joined / room.left pushes: it asked for them and the room is
	// within the presence limit (see roomActor).
	Presence *bool `json:"presence,omitempty"`
	Partial
}

func checkRoom(room string) error {
	if room == "" || utf8.RuneCountInString(room) > maxRoomName {
		return weft.Errorf(weft.CodeInvalidRequest, "room must be 1 to %d characters", maxRoomName)
	}
	return nil
}

// Join puts the connection in a room of its workspace. With presence, the
// connection gets room.joined / room.left of the other members while the
// room is within the presence limit (the answer's Presence says).
func (s *Service) Join(ctx context.Context, who weft.Identity, c ConnRef, room string, presence bool) (RoomCount, error) {
	if err := who.Require(weft.ScopeRoomsJoin); err != nil {
		return RoomCount{}, err
	}
	if err := checkRoom(room); err != nil {
		return RoomCount{}, err
	}
	remote := s.sys.peers.RoomSize(ctx, who.Workspace, room)
	reply := make(chan int, 1)
	m := member{connID: c.ID, identity: who.Name, pid: c.PID, push: c.Push, presence: presence, joinedAt: time.Now().UTC()}
	var presenceOn bool // written by the room before it replies
	op := &joinRoom{key: roomKey{who.Workspace, room}, m: m, reply: reply, presence: &presenceOn, remote: remote.Members}
	n, err := ask(ctx, s, s.sys.connections, &viaConnection{id: c.ID, op: op, rooms: s.sys.rooms}, reply)
	if err != nil {
		return RoomCount{}, err
	}
	switch n {
	case joinConnectionGone:
		return RoomCount{}, weft.Errorf(weft.CodeConnectionNotFound, "connection %q is closing", c.ID)
	case joinTooManyRooms:
		return RoomCount{}, weft.Errorf(weft.CodeLimitExceeded, "a connection may be in at most %d rooms; leave one first", s.sys.quotas.RoomsPerConnection)
	}
	return RoomCount{Room: room, Members: n + remote.Members, Presence: &presenceOn, Partial: remote.partial()}, nil
}

// Leave takes the connection out of a room.
func (s *Service) Leave(ctx context.Context, who weft.Identity, c ConnRef, room string) (RoomCount, error) {
	if err := who.Require(weft.ScopeRoomsJoin); err != nil {
		return RoomCount{}, err
	}
	if err := checkRoom(room); err != nil {
		return RoomCount{}, err
	}
	remote := s.sys.peers.RoomSize(ctx, who.Workspace, room)
	reply := make(chan int, 1)
	op := &leaveRoom{key: roomKey{who.Workspace, room}, connID: c.ID, reply: reply, remote: remote.Members}
	n, err := ask(ctx, s, s.sys.connections, &viaConnection{id: c.ID, op: op, rooms: s.sys.rooms}, reply)
	if err != nil {
		return RoomCount{}, err
	}
	return RoomCount{Room: room, Members: n + remote.Members, Partial: remote.partial()}, nil
}

// Broadcast sends message to every member of a room of the caller's
// workspace except the sender (room "" = every connection of the
// workspace). It is not queued for absent clients: an empty audience is a
// success with delivered_to 0. fromConn is the sender's connection id ("" over
// HTTP). Workflows bound to the room are started.
func (s *Service) Broadcast(ctx context.Context, who weft.Identity, fromConn, room string, message json.RawMessage) (_ BroadcastResult, auditErr error) {
	defer s.audited(ctx, who, "room.broadcast", room, &auditErr)
	if err := who.Require(weft.ScopeRoomsBroadcast); err != nil {
		return BroadcastResult{}, err
	}
	if room != "" {
		if err := checkRoom(room); err != nil {
			return BroadcastResult{}, err
		}
	}
	if len(message) == 0 || !json.Valid(message) {
		return BroadcastResult{}, weft.Errorf(weft.CodeInvalidRequest, "message must be JSON")
	}
	res, err := s.deliverBroadcast(ctx, who.Workspace, room, fromConn, who.Name, message)
	if err != nil {
		return BroadcastResult{}, err
	}
	if room != "" {
		s.trigger(who, fromConn, "room.message", func(t workflows.Triggers) bool { return slicesContains(t.Rooms, room) },
			map[string]any{"room": room, "from": fromConn, "identity": who.Name, "message": message})
	}
	return res, nil
}

// deliverBroadcast fans a broadcast out to this node's members (encoding
// its frame once) and, in a cluster, to the other nodes' at the same time.
func (s *Service) deliverBroadcast(ctx context.Context, workspace, room, from, identity string, message json.RawMessage) (BroadcastResult, error) {
	m := RoomMessage{Workspace: workspace, Room: room, From: from, Identity: identity, Message: message}
	call := s.sys.peers.Broadcast(m)
	delivered, members, err := s.LocalBroadcast(ctx, m)
	remote := call.Wait(ctx)
	if err != nil {
		return BroadcastResult{}, err
	}
	res := BroadcastResult{Broadcast: true, DeliveredTo: delivered + remote.Delivered,
		SubscriberCount: members + remote.Members, Partial: remote.partial()}
	s.sys.metrics.Broadcasts.Inc()
	s.sys.metrics.BroadcastRecipients.Add(float64(res.DeliveredTo))
	s.lifecycle(events.TopicBroadcastCompleted, func() any {
		return map[string]any{"workspace": workspace, "room": room, "from": from, "delivered_to": res.DeliveredTo}
	})
	return res, nil
}

// RoomMembersResult answers room.members.
type RoomMembersResult struct {
	Room    string       `json:"room"`
	Members []MemberInfo `json:"members"`
	Partial
}

// Members lists a room of the caller's workspace.
func (s *Service) Members(ctx context.Context, who weft.Identity, room string) (RoomMembersResult, error) {
	if err := who.Require(weft.ScopeConnectionsRead); err != nil {
		return RoomMembersResult{}, err
	}
	if err := checkRoom(room); err != nil {
		return RoomMembersResult{}, err
	}
	ms, err := s.LocalMembers(ctx, who.Workspace, room)
	if err != nil {
		return RoomMembersResult{}, err
	}
	remote, tally := s.sys.peers.Members(ctx, who.Workspace, room)
	ms = withRemote(ms, remote, s.sys.peers.Node(),
		func(m *MemberInfo) *string { return &m.Node }, func(m MemberInfo) time.Time { return m.ConnectedAt })
	return RoomMembersResult{Room: room, Members: ms, Partial: tally.partial()}, nil
}

// withRemote adds the other nodes' items of a list to this node's, in
// time order. In a cluster each item names its node: the peers name it in
// theirs, and this node's get self.
func withRemote[T any](local, remote []T, self string, node func(*T) *string, at func(T) time.Time) []T {
	if self == "" {
		return local // a single node
	}
	for i := range local {
		*node(&local[i]) = self
	}
	if len(remote) == 0 {
		return local
	}
	all := append(local, remote...)
	slices.SortStableFunc(all, func(a, b T) int { return at(a).Compare(at(b)) })
	return all
}

// ConnectionsResult answers connections.list.
type ConnectionsResult struct {
	Connections []ConnectionInfo `json:"connections"`
	Partial
}

// Connections lists the connections of the caller's workspace.
func (s *Service) Connections(ctx context.Context, who weft.Identity) (ConnectionsResult, error) {
	if err := who.Require(weft.ScopeConnectionsRead); err != nil {
		return ConnectionsResult{}, err
	}
	cs, err := s.LocalConnections(ctx, who.Workspace)
	if err != nil {
		return ConnectionsResult{}, err
	}
	remote, tally := s.sys.peers.Connections(ctx, who.Workspace)
	cs = withRemote(cs, remote, s.sys.peers.Node(),
		func(c *ConnectionInfo) *string { return &c.Node }, func(c ConnectionInfo) time.Time { return c.ConnectedAt })
	return ConnectionsResult{Connections: cs, Partial: tally.partial()}, nil
}

// SendTo sends a message push to one connection of the caller's workspace.
func (s *Service) SendTo(ctx context.Context, who weft.Identity, fromConn, connID string, message json.RawMessage) (auditErr error) {
	defer s.audited(ctx, who, "connection.send", connID, &auditErr)
	if err := who.Require(weft.ScopeConnectionsAdmin); err != nil {
		return err
	}
	return s.sendTo(ctx, who.Workspace, connID, fromConn, message)
}

func (s *Service) sendTo(ctx context.Context, workspace, connID, from string, message json.RawMessage) error {
	if connID == "" {
		return weft.Errorf(weft.CodeInvalidRequest, "connection_id is required")
	}
	if len(message) == 0 || !json.Valid(message) {
		return weft.Errorf(weft.CodeInvalidRequest, "message must be JSON")
	}
	return s.toConnection(ctx, workspace, connID, ConnectionMessage{From: from, Message: message})
}

// CloseConnection closes one connection of the caller's workspace with
// code 4000.
func (s *Service) CloseConnection(ctx context.Context, who weft.Identity, connID, reason string) (auditErr error) {
	defer s.audited(ctx, who, "connection.close", connID, &auditErr)
	if err := who.Require(weft.ScopeConnectionsAdmin); err != nil {
		return err
	}
	if connID == "" {
		return weft.Errorf(weft.CodeInvalidRequest, "connection_id is required")
	}
	if reason == "" {
		reason = "closed by operator"
	}
	return s.toConnection(ctx, who.Workspace, connID, ConnectionMessage{Close: true, Reason: reason})
}

// toConnection hands m to a connection of the workspace: on this node if
// it is here, else on whichever other node has it.
func (s *Service) toConnection(ctx context.Context, workspace, connID string, m ConnectionMessage) error {
	ok, err := s.LocalToConnection(ctx, workspace, connID, m)
	if err != nil || ok {
		return err
	}
	found, tally := s.sys.peers.ToConnection(ctx, workspace, connID, m)
	switch {
	case found:
		return nil
	case len(tally.Missing) > 0:
		return weft.Errorf(weft.CodeUnavailable, "connection %q is not on the nodes that answered, and nodes %s did not answer in time",
			connID, strings.Join(tally.Missing, ", "))
	}
	return weft.Errorf(weft.CodeConnectionNotFound, "no connection %q", connID)
}

// RoomBroadcast implements workflows.Messenger.
func (s *Service) RoomBroadcast(ctx context.Context, workspace, room, from string, message json.RawMessage) (int, int, error) {
	res, err := s.deliverBroadcast(ctx, workspace, room, from, from, message)
	return res.DeliveredTo, res.SubscriberCount, err
}

// SendToConnection implements workflows.Messenger.
func (s *Service) SendToConnection(ctx context.Context, workspace, connID, from string, message json.RawMessage) error {
	err := s.sendTo(ctx, workspace, connID, from, message)
	if weft.ErrorCode(err) == weft.CodeConnectionNotFound {
		return workflows.NonRetryable(&workflows.CodedError{Code: string(weft.CodeConnectionNotFound), Message: err.Error()})
	}
	return err
}

var _ workflows.Messenger = (*Service)(nil)

// Lifecycle publishes a lifecycle event on the bus (best effort).
// payload is called only if someone follows topic.
func (s *Service) Lifecycle(topic string, payload func() any) { s.lifecycle(topic, payload) }

func (s *Service) lifecycle(topic string, payload func() any) {
	if err := s.sys.bus.PublishLifecycle(topic, payload); err != nil {
		s.sys.log.Debug().Err(err).Str("topic", topic).Msg("lifecycle event")
	}
}

// trigger starts every workflow bound to a socket event, in the workspace
// of who (the sender of a room message, the connection that opened or
// closed) and as who: the execution is who's, started with who's scopes,
// so an event starts workflows only when who holds workflows:start (a
// rooms:broadcast token alone runs nothing). Without it the event is
// delivered all the same and the start is skipped (logged at debug).
// Starting waits for an fsync, so it happens in a goroutine that ends with
// the start; a failed start is logged, never the caller's error.
func (s *Service) trigger(who weft.Identity, connID, event string, bound func(workflows.Triggers) bool, params map[string]any) {
	var defs []*workflows.Definition
	for _, def := range s.sys.registry.Definitions() {
		if bound(def.Triggers()) {
			defs = append(defs, def)
		}
	}
	if len(defs) == 0 {
		return
	}
	if !who.Can(weft.ScopeWorkflowsStart) {
		s.sys.log.Debug().Str("identity", who.Name).Str("workspace", who.Workspace).Str("trigger", event).
			Int("bound_workflows", len(defs)).Msg("bound workflows not started: the sender lacks workflows:start")
		return
	}
	raw, _ := json.Marshal(params)
	meta, _ := json.Marshal(map[string]string{"trigger": event})
	go func() {
		for _, def := range defs {
			_, err := s.Start(context.Background(), who, StartRequest{Name: def.Name(), Parameters: raw, Metadata: meta, ConnectionID: connID})
			if err != nil {
				s.sys.log.Warn().Err(err).Str("workflow", def.Name()).Str("trigger", event).Str("identity", who.Name).Msg("start bound workflow")
			}
		}
	}()
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
