package actors

import (
	"context"
	"encoding/json"
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
	reply := make(chan int, 1)
	m := member{connID: c.ID, identity: who.Name, pid: c.PID, push: c.Push, presence: presence, joinedAt: time.Now().UTC()}
	var presenceOn bool // written by the room before it replies
	op := &joinRoom{key: roomKey{who.Workspace, room}, m: m, reply: reply, presence: &presenceOn}
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
	return RoomCount{Room: room, Members: n, Presence: &presenceOn}, nil
}

// Leave takes the connection out of a room.
func (s *Service) Leave(ctx context.Context, who weft.Identity, c ConnRef, room string) (RoomCount, error) {
	if err := who.Require(weft.ScopeRoomsJoin); err != nil {
		return RoomCount{}, err
	}
	if err := checkRoom(room); err != nil {
		return RoomCount{}, err
	}
	reply := make(chan int, 1)
	op := &leaveRoom{key: roomKey{who.Workspace, room}, connID: c.ID, reply: reply}
	n, err := ask(ctx, s, s.sys.connections, &viaConnection{id: c.ID, op: op, rooms: s.sys.rooms}, reply)
	if err != nil {
		return RoomCount{}, err
	}
	return RoomCount{Room: room, Members: n}, nil
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

// deliverBroadcast fans a broadcast out, encoding its frame once.
func (s *Service) deliverBroadcast(ctx context.Context, workspace, room, from, identity string, message json.RawMessage) (BroadcastResult, error) {
	var res BroadcastResult
	if room == "" {
		frame := pushFrame("room.message", map[string]any{"room": "", "from": from, "identity": identity, "message": message})
		reply := make(chan int, 1)
		n, err := ask(ctx, s, s.sys.connections, &toWorkspace{workspace: workspace, except: from, frame: frame, reply: reply}, reply)
		if err != nil {
			return res, err
		}
		res = BroadcastResult{Broadcast: true, DeliveredTo: n, SubscriberCount: n}
	} else {
		reply := make(chan BroadcastResult, 1)
		r, err := ask(ctx, s, s.sys.rooms, &broadcastRoom{key: roomKey{workspace, room}, from: from, identity: identity, message: message, reply: reply}, reply)
		if err != nil {
			return res, err
		}
		res = r
	}
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
}

// Members lists a room of the caller's workspace.
func (s *Service) Members(ctx context.Context, who weft.Identity, room string) (RoomMembersResult, error) {
	if err := who.Require(weft.ScopeConnectionsRead); err != nil {
		return RoomMembersResult{}, err
	}
	if err := checkRoom(room); err != nil {
		return RoomMembersResult{}, err
	}
	reply := make(chan []MemberInfo, 1)
	ms, err := ask(ctx, s, s.sys.rooms, &roomMembers{key: roomKey{who.Workspace, room}, reply: reply}, reply)
	return RoomMembersResult{Room: room, Members: ms}, err
}

// ConnectionsResult answers connections.list.
type ConnectionsResult struct {
	Connections []ConnectionInfo `json:"connections"`
}

// Connections lists the connections of the caller's workspace.
func (s *Service) Connections(ctx context.Context, who weft.Identity) (ConnectionsResult, error) {
	if err := who.Require(weft.ScopeConnectionsRead); err != nil {
		return ConnectionsResult{}, err
	}
	reply := make(chan []ConnectionInfo, 1)
	cs, err := ask(ctx, s, s.sys.connections, &listConnections{workspace: who.Workspace, reply: reply}, reply)
	return ConnectionsResult{Connections: cs}, err
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
	frame := pushFrame("message", map[string]any{"from": from, "message": message})
	return s.toConnection(ctx, workspace, connID, &Deliver{Frame: frame})
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
	return s.toConnection(ctx, who.Workspace, connID, &Disconnect{Code: 4000, Reason: reason})
}

func (s *Service) toConnection(ctx context.Context, workspace, connID string, msg any) error {
	found := make(chan bool, 1)
	ok, err := ask(ctx, s, s.sys.connections, &toConnection{workspace: workspace, id: connID, msg: msg, found: found}, found)
	if err != nil {
		return err
	}
	if !ok {
		return weft.Errorf(weft.CodeConnectionNotFound, "no connection %q", connID)
	}
	return nil
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
